# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""A grant revoked at the provider is noticed at the first refused login, not an hour later
when the cached access token runs out: the token is dropped and refreshed once, the login
tried once more, and a refused refresh expires the grant at once (real Dovecot checking
every token at the test authorization server)."""

import secrets

import pytest
from django.contrib.auth.models import User

from retrieval import alerts, engine
from retrieval.models import AlertEpisode, OAuthGrant, Run
from retrieval.oauth.tokens import grant_status
from retrieval.probe import probe_account
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


@pytest.fixture
def signed_in(staff_client, provider, oauth_dovecot, oauth_server):
    user = f"r{secrets.token_hex(4)}"
    account = make_account(oauth_dovecot, user, "", protocol="imap", auth_method="xoauth2")
    sign_in(staff_client, account, provider)
    oauth_dovecot.deliver_many(user, 2)
    return account, user


def refreshes(oauth_server) -> int:
    return oauth_server.count("/token", "refresh_token")


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_revoked_grant_expires_at_the_first_refused_login(
    staff_client, provider, oauth_dovecot, oauth_server, protocol
):
    user = f"r{secrets.token_hex(4)}"
    account = make_account(oauth_dovecot, user, "", protocol=protocol, auth_method="xoauth2")
    sign_in(staff_client, account, provider)
    oauth_dovecot.deliver_many(user, 2)
    before = refreshes(oauth_server)
    # Revoked at the provider's security page; the cached token has most of its hour left.
    oauth_server.revoke_all(OAuthGrant.objects.get(account=account).refresh_token())

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert run.error.startswith("sign-in expired: reconnect"), run.error
    assert refreshes(oauth_server) == before + 1
    grant = OAuthGrant.objects.get(account=account)
    assert grant.expired and grant.access_token() == ""
    assert grant_status(account).warning == "sign-in expired: reconnect"
    assert len(oauth_dovecot.messages(user)) == 2 and local_messages(account.owner) == []
    alerts.evaluate()
    assert AlertEpisode.objects.filter(kind="sign_in_expired", key=str(account.pk),
                                       closed=None).exists()


def test_a_dead_cached_token_is_refreshed_and_the_run_goes_on(signed_in, oauth_server):
    account, _ = signed_in
    old = OAuthGrant.objects.get(account=account).access_token()
    oauth_server.expire_access_tokens()  # dead at the server, an hour left by our clock
    before = refreshes(oauth_server)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert run.delivered == 2 and len(local_messages(account.owner)) == 2
    assert refreshes(oauth_server) == before + 1
    grant = OAuthGrant.objects.get(account=account)
    assert not grant.expired and grant.access_token() != old


def test_test_connection_refreshes_too(signed_in, oauth_server):
    account, _ = signed_in
    oauth_server.expire_access_tokens()

    result = probe_account(account)

    assert result.ok, result.error
    assert result.message_count == 2


def test_a_login_refused_after_the_refresh_is_not_tried_again(
    staff_client, provider, oauth_dovecot, oauth_server
):
    account = make_account(oauth_dovecot, f"r{secrets.token_hex(4)}", "", protocol="imap",
                           auth_method="xoauth2")
    oauth_server.user = "somebody-else"  # the provider signs in another person
    try:
        sign_in(staff_client, account, provider)
    finally:
        oauth_server.user = None
    before = refreshes(oauth_server)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR and "sign-in refused" in run.error, run.error
    assert refreshes(oauth_server) == before + 1  # one refresh, one more login, no loop
    assert not OAuthGrant.objects.get(account=account).expired  # the provider still agrees
