# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""Who may connect an account's OAuth2 sign-in: staff with change permission, or the owner
whose group allows self-service; nobody else, and a callback only for a state it started."""

from urllib.parse import urlparse

import pytest
import requests
from django.contrib.auth.models import Group, Permission, User

from accounts.models import GroupPolicy
from retrieval.models import OAuthGrant
from tests.factories import make_account, make_mailbox
from tests.oauth_helpers import oauth_dovecot, oauth_server, provider, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(oauth_dovecot, settings):
    settings.POPADMIN_CA_FILE = str(oauth_dovecot.ca_file)
    owner = User.objects.create_user("owner")
    mailbox = make_mailbox(user=owner)
    return make_account(oauth_dovecot, "owner1", "", owner=mailbox, auth_method="xoauth2")


def self_service(user):
    group = Group.objects.create(name=f"self-{user.pk}")
    GroupPolicy.objects.create(group=group, may_manage_own_accounts=True)
    user.groups.add(group)


def connect_page(client, account):
    return client.get(f"/oauth/accounts/{account.pk}/connect").status_code


def test_the_owner_with_self_service_may_connect(client, account, provider):
    self_service(account.owner.user)
    client.force_login(account.owner.user)

    assert connect_page(client, account) == 200
    assert sign_in(client, account, provider).status_code == 302
    assert OAuthGrant.objects.filter(account=account).exists()


def test_the_owner_without_self_service_may_not(client, account):
    client.force_login(account.owner.user)

    assert connect_page(client, account) == 404


def test_another_user_may_not_even_with_self_service(client, account):
    other = User.objects.create_user("other")
    self_service(other)
    client.force_login(other)

    assert connect_page(client, account) == 404
    assert client.post(f"/oauth/accounts/{account.pk}/disconnect").status_code == 404


def test_anonymous_is_sent_to_log_in(client, account):
    response = client.get(f"/oauth/accounts/{account.pk}/connect")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_staff_need_the_change_permission(client, account):
    staff = User.objects.create_user("clerk", is_staff=True)
    client.force_login(staff)
    assert connect_page(client, account) == 404

    staff.user_permissions.add(Permission.objects.get(codename="change_remoteaccount"))
    client.force_login(User.objects.get(pk=staff.pk))
    assert connect_page(client, account) == 200


def test_a_callback_with_a_state_this_session_did_not_start_is_refused(
    client, account, provider, oauth_server
):
    client.force_login(User.objects.create_superuser("ops", "ops@local.test", "x"))
    client.get(f"/oauth/accounts/{account.pk}/connect?provider={provider.pk}")

    forged = client.get("/oauth/callback?code=anything&state=not-the-state")

    assert forged.status_code == 400
    assert not OAuthGrant.objects.filter(account=account).exists()


def test_a_state_completes_only_once(client, account, provider):
    client.force_login(User.objects.create_superuser("ops", "ops@local.test", "x"))
    start = client.get(f"/oauth/accounts/{account.pk}/connect?provider={provider.pk}")
    back = urlparse(requests.get(start["Location"], allow_redirects=False, timeout=10)
                    .headers["Location"])

    first = client.get(f"{back.path}?{back.query}")
    replay = client.get(f"{back.path}?{back.query}")

    assert first.status_code == 302 and replay.status_code == 400
