from django.urls import path
from django.views.generic import RedirectView

from retrieval import history_views
from retrieval.views import (
    arrivals,
    language,
    login_trigger,
    mailpage,
    pages,
    reading,
    selfservice,
)

urlpatterns = [
    path("mail/", mailpage.inbox, name="mail-home"),
    path("mail/feed", mailpage.feed, name="mail-feed"),
    path("mail/<int:pk>/", mailpage.inbox, name="mail-message"),
    path("mail/<int:pk>/body", reading.body, name="mail-message-body"),
    path("mail/<int:pk>/parts/<int:index>", reading.attachment, name="mail-attachment"),
    path("mail/<int:pk>/original", reading.original, name="mail-original"),
    path("mail/<int:pk>/flags", reading.flags, name="mail-flags"),
    path("mail/accounts/", pages.accounts_page, name="mail-accounts"),
    path("mail/language", language.set_language, name="mail-language"),
    path("mail/accounts/check", pages.check_all, name="mail-check-all"),
    path("mail/accounts/new", selfservice.add_account, name="mail-account-add"),
    path("mail/accounts/<int:pk>/check", pages.check_account, name="mail-check-account"),
    path("mail/accounts/<int:pk>/progress", pages.progress, name="mail-progress"),
    path("mail/accounts/<int:pk>/runs", arrivals.runs_page, name="mail-account-runs"),
    path("mail/accounts/<int:pk>/edit", selfservice.edit_account, name="mail-account-edit"),
    path("mail/accounts/<int:pk>/toggle", selfservice.toggle_account, name="mail-account-toggle"),
    path("mail/accounts/<int:pk>/delete", selfservice.delete_account, name="mail-account-delete"),
    # The former "Arrived mail" table: the mail page lists the same messages.
    path("mail/messages/", RedirectView.as_view(pattern_name="mail-home", query_string=True),
         name="mail-messages"),
    path("history/runs/<int:pk>/", history_views.run_page, name="history-run"),
    path("api/login-trigger", login_trigger.login_trigger, name="api-login-trigger"),
]
