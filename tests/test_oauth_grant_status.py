"""What the account pages show about a grant: who, scopes, expiry, and a warning days before a
known expiry (Google's 7-day "Testing" apps)."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval.models import OAuthGrant, OAuthProvider, RemoteAccount
from retrieval.oauth.tokens import grant_status, save_token
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def account_with_grant(refresh_days=7, connected_days_ago=0):
    provider = OAuthProvider.objects.create(
        name=f"Google {refresh_days}/{connected_days_ago}", preset="google", client_id="cid",
        refresh_token_days=refresh_days, warn_days=2,
    )
    account = RemoteAccount.objects.create(
        owner=make_mailbox(), host="pop.gmail.com", username="someone@gmail.test",
        auth_method="xoauth2",
    )
    save_token(account, provider, {
        "access_token": "at", "refresh_token": "rt", "expires_in": 3600,
        "scope": "https://mail.google.com/",
    })
    OAuthGrant.objects.filter(account=account).update(
        refresh_expires=timezone.now() + dt.timedelta(days=refresh_days - connected_days_ago)
    )
    return account


def test_a_fresh_grant_shows_who_and_what_without_a_warning():
    status = grant_status(account_with_grant())

    assert status.connected and status.connected_as == "someone@gmail.test"
    assert status.scopes == ("https://mail.google.com/",)
    assert status.refresh_expires and status.warning == ""


def test_it_warns_days_before_a_known_expiry():
    status = grant_status(account_with_grant(connected_days_ago=6))

    assert status.warning.startswith("sign-in expires in 1 day: reconnect before")


def test_a_past_expiry_says_reconnect():
    status = grant_status(account_with_grant(connected_days_ago=8))

    assert status.warning == "sign-in expired: reconnect" and status.expired


def test_an_oauth_account_without_a_grant_asks_to_connect():
    account = RemoteAccount.objects.create(
        owner=make_mailbox(), host="outlook.office365.com", username="a@b.test",
        auth_method="oauthbearer",
    )

    assert grant_status(account).warning == "not signed in: connect"


def test_the_google_preset_needs_only_client_id_and_secret():
    provider = OAuthProvider(name="g", preset="google", client_id="x")
    provider.apply_preset()
    microsoft = OAuthProvider(name="m", preset="microsoft", tenant="contoso.example", client_id="y")
    microsoft.apply_preset()

    assert provider.token_endpoint.startswith("https://") and "mail.google.com" in provider.scopes
    assert "/contoso.example/oauth2/v2.0/token" in microsoft.token_endpoint
    assert "POP.AccessAsUser.All" in microsoft.scopes and "offline_access" in microsoft.scopes


def test_the_snippet_shows_the_warning_and_a_reconnect_button_to_staff(rf):
    from django.contrib.auth.models import User
    from django.template import Context, Template

    account = account_with_grant(connected_days_ago=6)
    request = rf.get("/admin/")
    request.user = User.objects.create_superuser("ops", "ops@local.test", "x")

    html = Template("{% load oauth_tags %}{% oauth_grant account %}").render(
        Context({"account": account, "request": request})
    )

    assert "someone@gmail.test" in html and "sign-in expires in 1 day" in html
    assert f"/oauth/accounts/{account.pk}/connect" in html and "Reconnect" in html
    assert "rt" not in html.split() and "at" not in html.split()
