from django.urls import path

from retrieval import history_views, views

urlpatterns = [
    path("mail/accounts/", views.accounts_page, name="mail-accounts"),
    path("mail/accounts/check", views.check_all, name="mail-check-all"),
    path("mail/accounts/<int:pk>/check", views.check_account, name="mail-check-account"),
    path("mail/accounts/<int:pk>/progress", views.progress, name="mail-progress"),
    path("history/runs/<int:pk>/", history_views.run_page, name="history-run"),
    path("api/login-trigger", views.login_trigger, name="api-login-trigger"),
]
