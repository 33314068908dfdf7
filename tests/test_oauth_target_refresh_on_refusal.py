# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""An IMAP APPEND target's grant revoked at the provider is noticed at the first refused
login, not when the cached access token runs out: the token is refreshed once and the login
tried once more; a refused refresh expires the grant at once, and the mail stays at the
source (real Dovecot checking every token at the test authorization server)."""

import pytest

from retrieval import engine
from retrieval.models import OAuthGrant, Run
from tests.factories import make_account
from tests.oauth_helpers import oauth_dovecot, oauth_server, provider  # noqa: F401
from tests.test_imap_append_oauth import oauth_target, sign_in_target, staff_client  # noqa: F401

pytestmark = pytest.mark.django_db


def refreshes(oauth_server) -> int:
    return oauth_server.count("/token", "refresh_token")


def test_a_revoked_target_grant_expires_at_the_first_refused_login(
    staff_client, provider, oauth_dovecot, oauth_server, dovecot, mail_user
):
    target, user = oauth_target(oauth_dovecot)
    sign_in_target(staff_client, target, provider)
    grant = OAuthGrant.objects.get(target=target)
    # Revoked at the provider; the cached access token has most of its hour left.
    oauth_server.revoke_all(grant.refresh_token())
    before = refreshes(oauth_server)
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, protocol="imap", delivery_target=target)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 0
    said = " ".join([run.error, *run.notes])
    assert "sign-in expired: reconnect" in said, said
    assert OAuthGrant.objects.get(pk=grant.pk).expired
    assert refreshes(oauth_server) == before + 1
    assert len(dovecot.messages(mail_user[0])) == 1 and oauth_dovecot.messages(user) == []


def test_a_dead_cached_token_is_refreshed_and_the_message_appended(
    staff_client, provider, oauth_dovecot, oauth_server, dovecot, mail_user
):
    target, user = oauth_target(oauth_dovecot, "oauthbearer")
    sign_in_target(staff_client, target, provider)
    oauth_server.expire_access_tokens()  # dead at the server, an hour left by our clock
    before = refreshes(oauth_server)
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, protocol="imap", delivery_target=target)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 1, (run.error, run.notes)
    assert len(oauth_dovecot.messages(user)) == 1
    assert refreshes(oauth_server) == before + 1
    assert not OAuthGrant.objects.get(target=target).expired
