from django.urls import path
from django.views.generic import RedirectView

from retrieval import history_views
from retrieval.views import arrivals, login_trigger, pages, selfservice

urlpatterns = [
    path("mail/", RedirectView.as_view(pattern_name="mail-accounts"), name="mail-home"),
    path("mail/accounts/", pages.accounts_page, name="mail-accounts"),
    path("mail/accounts/check", pages.check_all, name="mail-check-all"),
    path("mail/accounts/new", selfservice.add_account, name="mail-account-add"),
    path("mail/accounts/<int:pk>/check", pages.check_account, name="mail-check-account"),
    path("mail/accounts/<int:pk>/progress", pages.progress, name="mail-progress"),
    path("mail/accounts/<int:pk>/runs", arrivals.runs_page, name="mail-account-runs"),
    path("mail/accounts/<int:pk>/edit", selfservice.edit_account, name="mail-account-edit"),
    path("mail/accounts/<int:pk>/toggle", selfservice.toggle_account, name="mail-account-toggle"),
    path("mail/accounts/<int:pk>/delete", selfservice.delete_account, name="mail-account-delete"),
    path("mail/messages/", arrivals.messages_page, name="mail-messages"),
    path("history/runs/<int:pk>/", history_views.run_page, name="history-run"),
    path("api/login-trigger", login_trigger.login_trigger, name="api-login-trigger"),
]
