# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""OAuth2 sign-in end to end: popadmin's pages and Authlib client against the test
authorization server, and a real Dovecot that checks every token at its introspection
endpoint. Connect, fetch (POP3 and IMAP, XOAUTH2 and OAUTHBEARER), refresh, revoke, reconnect."""

import datetime as dt
import logging
import secrets

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from retrieval import engine
from retrieval.models import OAuthGrant, Run
from retrieval.oauth.tokens import grant_status
from tests.factories import local_messages, make_account
from tests.oauth_helpers import oauth_dovecot, oauth_server, provider, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("ops", "ops@local.test", "x"))
    return client


@pytest.fixture(autouse=True)
def trust_oauth_dovecot(settings, oauth_dovecot):
    settings.POPADMIN_CA_FILE = str(oauth_dovecot.ca_file)


def oauth_account(oauth_dovecot, protocol="pop3", method="xoauth2"):
    user = f"o{secrets.token_hex(4)}"
    account = make_account(oauth_dovecot, user, "", protocol=protocol, auth_method=method)
    return account, user


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
@pytest.mark.parametrize("method", ["xoauth2", "oauthbearer"])
def test_it_connects_and_fetches_with_the_token(
    staff_client, provider, oauth_dovecot, oauth_server, protocol, method, caplog
):
    caplog.set_level(logging.DEBUG)
    account, user = oauth_account(oauth_dovecot, protocol, method)
    oauth_dovecot.deliver_many(user, 3)

    back = sign_in(staff_client, account, provider)
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert back.status_code == 302
    assert run.status == Run.Status.OK, run.error
    assert run.delivered == 3 and len(local_messages(account.owner)) == 3
    assert oauth_dovecot.messages(user) == []
    status = grant_status(account)
    assert status.connected and status.connected_as == user and status.provider == "Test IdP"
    grant = OAuthGrant.objects.get(account=account)
    # Encrypted at rest, and never in a log line.
    for secret in (grant.refresh_token(), grant.access_token()):
        assert secret not in grant.refresh_token_encrypted + grant.access_token_encrypted
        assert secret not in caplog.text


def test_it_refreshes_an_access_token_about_to_expire(
    staff_client, provider, oauth_dovecot, oauth_server
):
    account, user = oauth_account(oauth_dovecot, "imap")
    sign_in(staff_client, account, provider)
    grant = OAuthGrant.objects.get(account=account)
    old = grant.access_token()
    # The old token is dead at the server too: only a refreshed one logs in.
    oauth_server.expire_access_tokens()
    OAuthGrant.objects.filter(pk=grant.pk).update(
        access_expires=timezone.now() + dt.timedelta(minutes=2)
    )
    refreshes = oauth_server.count("/token", "refresh_token")
    oauth_dovecot.deliver_many(user, 1)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert oauth_server.count("/token", "refresh_token") == refreshes + 1
    grant.refresh_from_db()
    assert grant.access_token() != old and grant.access_expires > timezone.now()


def test_a_revoked_grant_fails_the_run_loses_nothing_and_reconnect_fixes_it(
    staff_client, provider, oauth_dovecot, oauth_server
):
    account, user = oauth_account(oauth_dovecot, "pop3", "oauthbearer")
    sign_in(staff_client, account, provider)
    oauth_dovecot.deliver_many(user, 2)
    oauth_server.revoke_all(OAuthGrant.objects.get(account=account).refresh_token())

    # The cached access token is dead at the server, and so is the refresh it leads to.
    first = engine.run_account(account.pk, Run.Trigger.MANUAL)
    second = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert first.status == Run.Status.ERROR
    assert first.error.startswith("sign-in expired: reconnect"), first.error
    assert second.status == Run.Status.ERROR
    assert second.error.startswith("sign-in expired: reconnect"), second.error
    account.refresh_from_db()
    assert account.consecutive_failures == 2  # the normal failure back-off applies
    assert account.next_check > timezone.now()
    assert len(oauth_dovecot.messages(user)) == 2 and local_messages(account.owner) == []
    assert grant_status(account).warning == "sign-in expired: reconnect"
    refreshes = oauth_server.count("/token", "refresh_token")
    third = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert "sign-in expired" in third.error
    assert oauth_server.count("/token", "refresh_token") == refreshes  # not hammered

    sign_in(staff_client, account, provider)
    fixed = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert fixed.status == Run.Status.OK, fixed.error
    assert fixed.delivered == 2 and len(local_messages(account.owner)) == 2
    assert grant_status(account).warning == ""


def test_the_device_flow_connects_without_a_callback(
    staff_client, provider, oauth_dovecot, oauth_server
):
    account, user = oauth_account(oauth_dovecot, "imap", "xoauth2")
    oauth_dovecot.deliver_many(user, 1)

    start = staff_client.get(
        f"/oauth/accounts/{account.pk}/connect?provider={provider.pk}&flow=device"
    )
    waiting = staff_client.get(start["Location"])
    code = oauth_server.devices[next(iter(oauth_server.devices))]["user_code"]
    oauth_server.approve_device(code, user)
    done = staff_client.get(start["Location"])

    assert waiting.status_code == 200 and code.encode() in waiting.content
    assert done.status_code == 302
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert run.status == Run.Status.OK, run.error
    assert run.delivered == 1


def test_disconnect_revokes_at_the_provider(staff_client, provider, oauth_dovecot, oauth_server):
    account, _ = oauth_account(oauth_dovecot)
    sign_in(staff_client, account, provider)
    refresh = OAuthGrant.objects.get(account=account).refresh_token()

    staff_client.post(f"/oauth/accounts/{account.pk}/disconnect")

    assert refresh not in oauth_server.refresh_tokens
    assert not OAuthGrant.objects.filter(account=account).exists()
