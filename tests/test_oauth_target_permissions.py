# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""Who may connect an IMAP APPEND delivery target's OAuth2 sign-in: active staff with
change permission on delivery targets, nobody else (a target is shared by many mailboxes:
no self-service), and a callback only for the target its state was started for."""

from urllib.parse import urlparse

import pytest
import requests
from django.contrib.auth.models import Permission, User
from django.db import IntegrityError, transaction

from delivery.targets import DeliveryTarget
from retrieval.models import OAuthGrant
from tests.factories import make_mailbox
from tests.oauth_helpers import oauth_server, provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def target():
    return DeliveryTarget.objects.create(
        name="oauth dest", kind="imap", host="127.0.0.1", port=143, security="none",
        username="dest1", auth_method="xoauth2",
    )


def staff(perms=()):
    user = User.objects.create_user(f"staff{len(perms)}", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def pages(client, target, provider):
    """Status codes of the choice page, the start of a sign-in, and the disconnect."""
    base = f"/oauth/targets/{target.pk}"
    return (
        client.get(f"{base}/connect").status_code,
        client.get(f"{base}/connect?provider={provider.pk}").status_code,
        client.post(f"{base}/disconnect").status_code,
    )


def test_staff_with_change_permission_may_connect(client, target, provider):
    client.force_login(staff(["change_deliverytarget"]))

    page = client.get(f"/oauth/targets/{target.pk}/connect")
    start = client.get(f"/oauth/targets/{target.pk}/connect?provider={provider.pk}")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    back = urlparse(at_provider.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")

    assert page.status_code == 200 and b"store mail in" in page.content
    assert f"/oauth/targets/{target.pk}/connect?provider={provider.pk}".encode() in page.content
    assert done.status_code == 302
    assert OAuthGrant.objects.get(target=target).connected_as == "dest1"


def test_staff_who_may_only_change_accounts_may_not(client, target, provider):
    client.force_login(staff(["change_remoteaccount", "view_deliverytarget"]))

    assert pages(client, target, provider) == (404, 404, 404)


def test_a_user_may_not_even_with_the_permission(client, target, provider):
    user = User.objects.create_user("owner")
    user.user_permissions.add(Permission.objects.get(codename="change_deliverytarget"))
    make_mailbox(user=user)
    client.force_login(user)

    assert pages(client, target, provider) == (404, 404, 404)


def test_anonymous_is_sent_to_log_in(client, target, provider):
    codes = pages(client, target, provider)

    assert codes == (302, 302, 302)
    assert "login" in client.get(f"/oauth/targets/{target.pk}/connect")["Location"]
    assert not OAuthGrant.objects.exists()


def test_a_callback_started_for_a_target_never_connects_an_account_of_the_same_id(
    client, target, provider
):
    """The session remembers the kind: a state for target N is not a sign-in for account N."""
    client.force_login(staff(["change_deliverytarget"]))
    start = client.get(f"/oauth/targets/{target.pk}/connect?provider={provider.pk}")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    back = urlparse(at_provider.headers["Location"])
    client.get(f"{back.path}?{back.query}")

    grant = OAuthGrant.objects.get()
    assert grant.target_id == target.pk and grant.account_id is None


def test_a_grant_is_for_an_account_or_a_target_never_both_or_neither(target, provider):
    with pytest.raises(IntegrityError), transaction.atomic():
        OAuthGrant.objects.create(provider=provider)
