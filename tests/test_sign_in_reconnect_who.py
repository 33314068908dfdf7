# ruff: noqa: F811  (pytest fixtures imported from tests/test_alerts.py)
"""Who is told to reconnect an expired OAuth2 sign-in: an owner who may (self-service) is
told to press Reconnect; an owner who may not is told that an administrator must, on the
accounts page, its live card, the recent checks and the alert mail."""

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval import alerts
from retrieval.models import OAuthGrant, OAuthProvider, RemoteAccount, Run
from retrieval.oauth.tokens import save_token
from tests.factories import make_mailbox
from tests.test_alerts import mails, smtp  # noqa: F401

pytestmark = pytest.mark.django_db

ERROR = ("sign-in expired: reconnect (the provider refused the refresh token: "
         "invalid_grant)")
BY_ADMIN = "An administrator must reconnect"


def owner(manage):
    user = User.objects.create_user(f"u{User.objects.count()}")
    if manage:
        group = Group.objects.create(name=f"self-{user.pk}")
        GroupPolicy.objects.create(group=group, may_manage_own_accounts=True)
        user.groups.add(group)
    make_mailbox(user=user)
    return user


def expired_account(user):
    provider, _ = OAuthProvider.objects.get_or_create(name="Google", preset="google",
                                                      client_id="cid")
    account = RemoteAccount.objects.create(
        owner=user.mailbox, host="imap.gmail.com", username=f"{user.username}@gmail.com",
        protocol="imap", auth_method="xoauth2", last_status="error", last_error=ERROR)
    save_token(account, provider, {"access_token": "at", "refresh_token": "rt"})
    OAuthGrant.objects.filter(account=account).update(expired=True)
    Run.objects.create(account=account, status=Run.Status.ERROR, error=ERROR)
    return account


def pages(client, account) -> list[str]:
    return [
        client.get(reverse("mail-accounts")).content.decode(),
        client.get(reverse("mail-progress", args=[account.pk])).json()["card"]["next_step"],
        client.get(reverse("mail-account-runs", args=[account.pk])).content.decode(),
    ]


def test_an_owner_without_self_service_is_told_an_administrator_must(client):
    user = owner(manage=False)
    account = expired_account(user)
    client.force_login(user)

    for text in pages(client, account):
        assert BY_ADMIN in text
        assert "Press Reconnect" not in text


def test_an_owner_with_self_service_is_told_to_press_reconnect(client):
    user = owner(manage=True)
    account = expired_account(user)
    client.force_login(user)

    for text in pages(client, account):
        assert "Press Reconnect" in text
        assert BY_ADMIN not in text


def test_another_user_sees_none_of_it(client):
    account = expired_account(owner(manage=False))
    client.force_login(owner(manage=True))

    assert client.get(reverse("mail-account-runs", args=[account.pk])).status_code == 404
    assert client.get(reverse("mail-progress", args=[account.pk])).status_code == 404
    assert BY_ADMIN not in client.get(reverse("mail-accounts")).content.decode()


def test_the_alert_mail_tells_each_owner_what_they_can_do(smtp):
    helpless = expired_account(owner(manage=False))
    able = expired_account(owner(manage=True))

    alerts.evaluate()

    bodies = {to[0]: m.get_payload(decode=True).decode() for to, m in mails(smtp)}
    assert BY_ADMIN in bodies[helpless.owner.address]
    assert "press Reconnect" not in bodies[helpless.owner.address]
    assert "press Reconnect" in bodies[able.owner.address]
