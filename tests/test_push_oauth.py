# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""An OAuth2 account under push: the watcher signs in with XOAUTH2 on a real Dovecot that
checks every token at the test authorization server, and signs in again with a refreshed
token before the access token expires, so IDLE outlives any one token."""

import secrets

import pytest
from django.contrib.auth.models import User

from retrieval.models import OAuthGrant, PushWatch
from retrieval.watch import plan
from tests.factories import make_account
from tests.oauth_helpers import oauth_dovecot, oauth_server, provider, sign_in  # noqa: F401
from tests.watching import watcher_running
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def trust_oauth_dovecot(settings, oauth_dovecot):
    settings.POPADMIN_CA_FILE = str(oauth_dovecot.ca_file)


def test_the_token_is_refreshed_before_it_expires_during_idle(
        client, provider, oauth_dovecot, oauth_server, monkeypatch):
    client.force_login(User.objects.create_superuser("ops", "ops@local.test", "x"))
    user = f"o{secrets.token_hex(4)}"
    account = make_account(oauth_dovecot, user, "", protocol="imap", auth_method="xoauth2")
    # Tokens that live 5 minutes and 3 seconds; the connection signs in again 5 minutes
    # and 1 second before expiry, inside the tokens' refresh margin (5 minutes).
    monkeypatch.setattr(oauth_server, "expires_in", 303)
    sign_in(client, account, provider)
    first = OAuthGrant.objects.get(account=account).access_token()
    monkeypatch.setattr(plan, "TOKEN_MARGIN", plan.REFRESH_MARGIN + plan.dt.timedelta(seconds=1))
    monkeypatch.setattr(plan, "RELOGIN_FLOOR", 1.0)
    refreshes = oauth_server.count("/token", "refresh_token")
    with watcher_running():
        wait_for(lambda: PushWatch.objects.filter(account=account, state="idle").exists(),
                 timeout=20, what="the account to be watched")
        wait_for(lambda: oauth_server.count("/token", "refresh_token") > refreshes,
                 timeout=20, what="the token to be refreshed")
        wait_for(lambda: PushWatch.objects.filter(account=account, state="idle").exists(),
                 timeout=20, what="IDLE again with the new token")
        watch = PushWatch.objects.get(account=account)
    assert OAuthGrant.objects.get(account=account).access_token() != first
    # A planned sign-in is not a failure.
    assert watch.reconnects == 0
    assert watch.error == ""
