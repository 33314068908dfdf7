# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""An OAuth2 grant signs in only to the server it was made for: pointing its account at
another server (the owner on their page, staff in the admin) never sends the bearer token
there. Test connection says so on the host field; Save revokes and forgets the grant and goes
on to a new sign-in."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval.credential_reuse import SIGN_IN_AGAIN
from retrieval.models import GlobalSettings, OAuthGrant, RemoteAccount
from retrieval.oauth.tokens import save_token
from tests.admin_helpers import staff
from tests.factories import make_mailbox
from tests.fakeserver import FakeServer, Pop3Mailbox
from tests.oauth_helpers import oauth_server, provider  # noqa: F401

pytestmark = pytest.mark.django_db

BEARER = "at-the-shared-mailboxes-access-token"


@pytest.fixture
def their_server(settings):
    mailbox = Pop3Mailbox([], capa=("SASL XOAUTH2 OAUTHBEARER", "UIDL"))
    with FakeServer(mailbox) as server:
        settings.POPADMIN_ALLOWED_PORTS = [110, 995, server.port]
        gs = GlobalSettings.load()
        gs.allowed_internal_networks = ["127.0.0.0/8"]
        gs.save()
        server.mailbox = mailbox
        yield server


def user_with(django_user_model, name, manage=True):
    user = django_user_model.objects.create_user(name, password="x")
    group = Group.objects.create(name=f"g-{name}")
    GroupPolicy.objects.create(group=group, may_manage_own_accounts=manage, min_poll_minutes=1)
    user.groups.add(group)
    make_mailbox(f"{name}@local.test", user=user)
    return user


@pytest.fixture
def shared(django_user_model, provider):
    owner = user_with(django_user_model, "owner")
    account = RemoteAccount.objects.create(
        owner=owner.mailbox, host="pop.example.test", port=995, username="team@example.test",
        protocol="pop3", security="tls", auth_method="xoauth2", network_restricted=True)
    save_token(account, provider, {"access_token": BEARER, "refresh_token": "rt-shared",
                                   "expires_in": 3600})
    return account


def moved(server, **extra) -> dict:
    data = {"name": "", "protocol": "pop3", "security": "none", "host": "127.0.0.1",
            "port": server.port, "username": "team@example.test", "auth_method": "xoauth2",
            "password": "", "folders": "", "target_folder": "", "keep_policy": "delete",
            "keep_days": 7, "poll_minutes": "", "enabled": "on", "action": "test"}
    data.update(extra)
    return data


def nothing_sent(server) -> bool:
    return server.mailbox.sessions == 0


def edit(client, account, data, **headers):
    return client.post(reverse("mail-account-edit", args=[account.pk]), data, **headers)


def test_test_connection_says_so_on_the_host_and_sends_nothing(client, shared, their_server):
    client.force_login(shared.owner.user)

    response = edit(client, shared, moved(their_server), HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert response.json()["errors"]["host"][0]["message"] == SIGN_IN_AGAIN
    assert nothing_sent(their_server)
    assert OAuthGrant.objects.filter(account=shared, expired=False).exists()  # nothing saved
    shared.refresh_from_db()
    assert shared.host == "pop.example.test"


def test_save_revokes_the_grant_and_goes_on_to_a_new_sign_in(client, shared, their_server,
                                                            oauth_server):
    client.force_login(shared.owner.user)
    revoked = oauth_server.count("/revoke")

    response = edit(client, shared, moved(their_server, action="save"))

    assert response.status_code == 302
    assert response["Location"].startswith(f"/oauth/accounts/{shared.pk}/connect")
    assert not OAuthGrant.objects.filter(account=shared).exists()
    assert oauth_server.count("/revoke") == revoked + 1
    assert nothing_sent(their_server)
    shared.refresh_from_db()
    assert (shared.host, shared.port) == ("127.0.0.1", their_server.port)


def test_a_change_elsewhere_keeps_the_grant(client, shared, their_server):
    RemoteAccount.objects.filter(pk=shared.pk).update(host="127.0.0.1", port=their_server.port,
                                                      security="none")
    client.force_login(shared.owner.user)
    same = moved(their_server, name="Team", action="save", save_anyway="1")

    edit(client, shared, same)

    shared.refresh_from_db()
    assert shared.name == "Team"
    assert OAuthGrant.objects.filter(account=shared, expired=False).exists()


def test_another_user_cannot_reach_it(client, django_user_model, shared, their_server):
    client.force_login(user_with(django_user_model, "other"))

    response = edit(client, shared, moved(their_server, action="save"))

    assert response.status_code == 404 and nothing_sent(their_server)
    assert OAuthGrant.objects.filter(account=shared).exists()


def test_anonymous_is_sent_to_log_in(client, shared, their_server):
    response = edit(client, shared, moved(their_server, action="save"))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert OAuthGrant.objects.filter(account=shared).exists()


def test_staff_who_change_the_server_in_the_admin_disconnect_it(
    client, django_user_model, shared, their_server
):
    client.force_login(staff(django_user_model, "clerk", "change_remoteaccount",
                             "view_remoteaccount"))
    url = reverse("admin:retrieval_remoteaccount_change", args=[shared.pk])
    data = {"owner": shared.owner.pk, "name": "", "enabled": "on", "network_restricted": "on",
            "protocol": "pop3", "security": "none", "host": "127.0.0.1",
            "port": their_server.port, "verify_tls": "on", "username": "team@example.test",
            "auth_method": "xoauth2", "password": "", "folders": "", "mode": "single",
            "target_folder": "", "keep_policy": "delete", "keep_days": "7",
            "max_message_mb": "0", "poll_minutes": "", "folder_map": "{}",
            "delivery_target": "", "_save": "Save"}

    response = client.post(url, data)

    assert response.status_code == 302, response.context_data["adminform"].form.errors
    assert response["Location"].startswith(f"/oauth/accounts/{shared.pk}/connect")
    assert not OAuthGrant.objects.filter(account=shared).exists()
    assert nothing_sent(their_server)
