"""The write-only password ("empty keeps the stored one") is sent only to the server it was
entered for: a user editing a shared mailbox an administrator set up, or staff who may change
accounts, cannot point it at their own server and press Test connection or Save. Changing host,
port, protocol or security (or switching certificate checks off) wants the password typed again."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval.credential_reuse import TYPE_IT_AGAIN
from retrieval.models import GlobalSettings
from tests.admin_helpers import make_remote, staff
from tests.dnsserver import DnsServer
from tests.factories import make_mailbox
from tests.fakeserver import FakeServer, Pop3Mailbox

pytestmark = pytest.mark.django_db

SHARED = "shared-mailbox-password-never-told"


@pytest.fixture
def their_server(settings):
    """A server the editor controls: it would record any password it is sent."""
    mailbox = Pop3Mailbox([], users={"team": "what they type"})
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
def shared(django_user_model):
    """A mailbox an administrator set up for the user, with a password they were never told."""
    owner = user_with(django_user_model, "owner")
    return make_remote(owner=owner.mailbox, password=SHARED, host="pop.example.test",
                       username="team", protocol="pop3", security="tls", port=995,
                       network_restricted=True)


def moved(server, **extra) -> dict:
    data = {"name": "", "protocol": "pop3", "security": "none", "host": "127.0.0.1",
            "port": server.port, "username": "team", "password": "", "folders": "",
            "target_folder": "", "keep_policy": "delete", "keep_days": 7, "poll_minutes": "",
            "enabled": "on", "action": "test"}
    data.update(extra)
    return data


def nothing_sent(server) -> bool:
    return server.mailbox.sessions == 0 and SHARED.encode() not in b"".join(server.received)


def edit(client, account, data, **headers):
    return client.post(reverse("mail-account-edit", args=[account.pk]), data, **headers)


@pytest.mark.parametrize("action", ["test", "save"])
def test_the_owner_must_type_the_password_again_for_another_server(
    client, shared, their_server, action
):
    client.force_login(shared.owner.user)

    response = edit(client, shared, moved(their_server, action=action),
                    HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert response.json()["errors"]["password"][0]["message"] == TYPE_IT_AGAIN
    assert nothing_sent(their_server)
    shared.refresh_from_db()
    assert (shared.host, shared.port) == ("pop.example.test", 995)
    assert shared.get_password() == SHARED


@pytest.mark.parametrize("change", [{"port": 1995}, {"security": "starttls", "port": ""},
                                    {"protocol": "imap", "port": ""},
                                    {"host": "POP.EXAMPLE.TEST.", "port": 1995}])
def test_any_change_of_where_it_connects_counts(client, shared, change):
    client.force_login(shared.owner.user)
    data = {**moved_fields(shared), **change}

    response = edit(client, shared, data)

    assert response.status_code == 400
    assert TYPE_IT_AGAIN in response.content.decode()


def moved_fields(account) -> dict:
    return {"name": "", "protocol": account.protocol, "security": account.security,
            "host": account.host, "port": account.port, "username": account.username,
            "password": "", "folders": "", "target_folder": "", "keep_policy": "delete",
            "keep_days": 7, "poll_minutes": "", "enabled": "on", "action": "save",
            "save_anyway": "1"}


def test_the_same_server_spelled_differently_keeps_the_password(client, shared, settings,
                                                                their_server):
    client.force_login(shared.owner.user)
    data = {**moved_fields(shared), "host": " Pop.Example.TEST. ", "name": "Team"}

    with DnsServer({"pop.example.test": [["127.0.0.1"]] * 4}) as dns_server:
        settings.POPADMIN_DNS_SERVERS = [dns_server.address]
        response = edit(client, shared, data)

    assert response.status_code == 302, response.context["form"].errors
    shared.refresh_from_db()
    assert shared.name == "Team" and shared.get_password() == SHARED


def test_a_password_typed_again_is_the_one_sent(client, shared, their_server):
    client.force_login(shared.owner.user)

    response = edit(client, shared, moved(their_server, password="what they type"),
                    HTTP_ACCEPT="application/json")

    assert response.json()["ok"] is True, response.json()
    assert their_server.mailbox.sessions == 1
    assert SHARED.encode() not in b"".join(their_server.received)


def test_another_user_cannot_reach_the_account(client, django_user_model, shared, their_server):
    client.force_login(user_with(django_user_model, "other"))

    response = edit(client, shared, moved(their_server))

    assert response.status_code == 404 and nothing_sent(their_server)


def test_anonymous_is_sent_to_log_in(client, shared, their_server):
    response = edit(client, shared, moved(their_server))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert nothing_sent(their_server)


def admin_form(account, server, **extra) -> dict:
    data = {"owner": account.owner.pk, "name": "", "enabled": "on", "network_restricted": "on",
            "protocol": "pop3", "security": "none", "host": "127.0.0.1", "port": server.port,
            "verify_tls": "on", "username": "team", "password": "", "folders": "",
            "mode": "single", "target_folder": "", "keep_policy": "delete", "keep_days": "7",
            "max_message_mb": "0", "poll_minutes": "", "auth_method": "password",
            "folder_map": "{}", "delivery_target": "", "_save": "Save"}
    data.update(extra)
    return data


def test_staff_who_may_change_accounts_must_type_it_again_too(
    client, django_user_model, shared, their_server
):
    client.force_login(staff(django_user_model, "clerk", "change_remoteaccount",
                             "view_remoteaccount"))
    url = reverse("admin:retrieval_remoteaccount_change", args=[shared.pk])

    response = client.post(url, admin_form(shared, their_server))

    assert response.status_code == 200  # the form again, with the error
    assert TYPE_IT_AGAIN in response.content.decode()
    assert nothing_sent(their_server)
    shared.refresh_from_db()
    assert shared.host == "pop.example.test"


def test_switching_certificate_checks_off_in_the_admin_counts(admin_client, shared,
                                                              their_server):
    url = reverse("admin:retrieval_remoteaccount_change", args=[shared.pk])
    data = admin_form(shared, their_server, host=shared.host, port=shared.port,
                      security="tls", verify_tls="")

    response = admin_client.post(url, data)

    assert response.status_code == 200 and TYPE_IT_AGAIN in response.content.decode()
    shared.refresh_from_db()
    assert shared.verify_tls is True
