from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Loaded with the schema's URLs rather than at start-up: it pulls in
# drf-spectacular, which every process setting Django up would pay for.
from api import schema  # noqa: F401  (describes the bearer token in the schema)
from api.views import accounts, history, mailboxes, me, settings

app_name = "api"

urlpatterns = [
    path("me", me.Me.as_view(), name="me"),
    path("accounts/", accounts.AccountList.as_view(), name="accounts"),
    path("accounts/<int:pk>", accounts.AccountDetail.as_view(), name="account"),
    path("accounts/<int:pk>/check", accounts.AccountCheck.as_view(), name="account-check"),
    path("accounts/<int:pk>/progress", accounts.AccountProgress.as_view(),
         name="account-progress"),
    path("mailboxes/", mailboxes.MailboxList.as_view(), name="mailboxes"),
    path("mailboxes/<int:pk>", mailboxes.MailboxDetail.as_view(), name="mailbox"),
    path("runs/", history.RunList.as_view(), name="runs"),
    path("runs/<int:pk>", history.RunDetail.as_view(), name="run"),
    path("deliveries/", history.DeliveryList.as_view(), name="deliveries"),
    path("alerts/", history.AlertList.as_view(), name="alerts"),
    path("settings", settings.SettingsView.as_view(), name="settings"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(
        url_name="api:schema", template_name="api/swagger_ui.html"), name="docs"),
]
