# ruff: noqa: F811  (pytest fixtures imported from tests/test_alerts.py)
"""A revoked or expired OAuth2 sign-in raises an alert at once, per account, to the owner
(who can press Reconnect) and the administrators; signing in again ends it."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.models import GroupPolicy
from retrieval import alerts
from retrieval.models import AlertEpisode, OAuthGrant, OAuthProvider, RemoteAccount
from retrieval.oauth.tokens import save_token
from tests.factories import make_mailbox
from tests.test_alerts import hook, mails, smtp  # noqa: F401

pytestmark = pytest.mark.django_db

NOW = timezone.now()
TOKEN = {"access_token": "at", "refresh_token": "rt", "expires_in": 3600}


@pytest.fixture
def google(db):
    return OAuthProvider.objects.create(name="Google", preset="google", client_id="c")


def signed_in(provider, owner=None, auth_method="xoauth2"):
    account = RemoteAccount.objects.create(
        owner=owner or make_mailbox(), host="imap.gmail.com", protocol="imap",
        username=f"u{RemoteAccount.objects.count()}@gmail.com", auth_method=auth_method)
    save_token(account, provider, TOKEN)
    return account


def owner_with_self_service():
    user = User.objects.create_user(f"self{User.objects.count()}")
    group = Group.objects.create(name=f"self-{user.pk}")
    GroupPolicy.objects.create(group=group, may_manage_own_accounts=True)
    user.groups.add(group)
    return make_mailbox(user=user)


def test_a_revoked_sign_in_tells_the_owner_and_the_admins_once(smtp, hook, google):
    account = signed_in(google, owner=owner_with_self_service())
    bystander = signed_in(google)
    OAuthGrant.objects.filter(account=account).update(expired=True)  # the provider refused

    alerts.evaluate(now=NOW)
    alerts.evaluate(now=NOW + dt.timedelta(minutes=1))

    episode = AlertEpisode.objects.get()
    assert (episode.kind, episode.key, episode.account_ids) == (
        "sign_in_expired", str(account.pk), [account.pk])
    sent = mails(smtp)
    assert sorted(to[0] for to, _ in sent) == sorted(["ops@ops.test", account.owner.address])
    assert bystander.owner.address not in str([to for to, _ in sent])
    for _, message in sent:
        assert message["Subject"] == f"[popadmin] sign-in expired (account {account.pk})"
    owner_mail = next(m for to, m in sent if to == [account.owner.address])
    assert "press Reconnect" in owner_mail.get_payload()
    assert len(hook.posts) == 1 and "Google sign-in expired" in hook.posts[0][2]["text"]


def test_signing_in_again_ends_the_episode(smtp, google):
    account = signed_in(google)
    OAuthGrant.objects.filter(account=account).update(expired=True)
    alerts.evaluate(now=NOW)

    save_token(account, google, TOKEN)  # Reconnect
    alerts.evaluate(now=NOW + dt.timedelta(minutes=5))

    assert AlertEpisode.objects.get().closed == NOW + dt.timedelta(minutes=5)
    subjects = [m["Subject"] for _, m in mails(smtp)]
    assert subjects.count(f"[popadmin] recovered: sign-in expired (account {account.pk})") == 2


def test_a_known_expiry_that_passed_counts_too(smtp, google):
    account = signed_in(google)
    OAuthGrant.objects.filter(account=account).update(refresh_expires=NOW - dt.timedelta(hours=1))

    alerts.evaluate(now=NOW)

    assert AlertEpisode.objects.get().key == str(account.pk)


def test_no_alert_for_working_disabled_or_never_connected_accounts(smtp, google):
    signed_in(google)  # connected, fine
    off = signed_in(google)
    OAuthGrant.objects.filter(account=off).update(expired=True)
    RemoteAccount.objects.filter(pk=off.pk).update(enabled=False)
    RemoteAccount.objects.create(owner=make_mailbox(), host="imap.gmail.com",
                                 username="new@gmail.com", auth_method="xoauth2")

    alerts.evaluate(now=NOW)

    assert not AlertEpisode.objects.exists() and mails(smtp) == []
