"""Users add, edit, disable and delete their own accounts, where their group allows:
address first with suggested settings, a real test against Dovecot before saving,
the group's minimum poll interval and the network-reach guard enforced."""

from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval.models import GlobalSettings, RemoteAccount
from tests.dnsserver import DnsServer
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def test_dovecot_ports_allowed(settings, dovecot):
    settings.POPADMIN_ALLOWED_PORTS = [110, 995, 143, 993, dovecot.pop3s_port,
                                       dovecot.imaps_port]


def allow_loopback():
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = ["127.0.0.0/8"]
    gs.save()


def user_with(django_user_model, name="me", manage=True, min_poll=5):
    user = django_user_model.objects.create_user(name, password="x")
    group = Group.objects.create(name=f"g-{name}")
    GroupPolicy.objects.create(group=group, may_manage_own_accounts=manage,
                               min_poll_minutes=min_poll)
    user.groups.add(group)
    make_mailbox(f"{name}@local.test", user=user)
    return user


def fields(dovecot, mail_user, **extra):
    data = {"name": "", "protocol": "pop3", "security": "tls", "host": "127.0.0.1",
            "port": dovecot.pop3s_port, "username": mail_user[0], "password": mail_user[1],
            "folders": "", "target_folder": "", "keep_policy": "delete", "keep_days": 7,
            "poll_minutes": "", "enabled": "on", "action": "save"}
    data.update(extra)
    return data


@pytest.fixture
def me(django_user_model, client):
    user = user_with(django_user_model)
    client.force_login(user)
    return user


def test_it_suggests_settings_from_a_srv_record(client, me, settings, dovecot):
    rdata = {("_pop3s._tcp.mine.test", "SRV"): [f"0 1 {dovecot.pop3s_port} localhost."]}
    with DnsServer({}, rdata=rdata) as dns_server:
        settings.POPADMIN_DNS_SERVERS = [dns_server.address]
        response = client.get(reverse("mail-account-add"), {"address": "me@mine.test"})

    text = response.content.decode()
    assert f"POP3 TLS localhost:{dovecot.pop3s_port}" in text
    assert "DNS SRV record _pop3s._tcp.mine.test" in text
    form = response.context["form"]
    assert (form.initial["host"], form.initial["port"]) == ("localhost", dovecot.pop3s_port)
    assert form.initial["username"] == "me@mine.test"


def test_another_offered_server_can_be_chosen(client, me, settings, dovecot):
    rdata = {("_pop3s._tcp.mine.test", "SRV"): [f"0 1 {dovecot.pop3s_port} localhost."],
             ("_imaps._tcp.mine.test", "SRV"): [f"0 1 {dovecot.imaps_port} localhost."]}
    with DnsServer({}, rdata=rdata) as dns_server:
        settings.POPADMIN_DNS_SERVERS = [dns_server.address]
        first = client.get(reverse("mail-account-add"), {"address": "me@mine.test"})
        [offered] = first.context["suggestions"][1:]
        link = f"?address=me%40mine.test&amp;pick={quote(offered.label)}"
        assert f'<a href="{link}">{offered.label}</a>' in first.content.decode()
        chosen = client.get(reverse("mail-account-add"),
                            {"address": "me@mine.test", "pick": offered.label})

    form = chosen.context["form"]
    assert (form.initial["protocol"], form.initial["port"]) == (offered.protocol, offered.port)
    assert [s.label for s in chosen.context["suggestions"]] == [
        offered.label, first.context["suggestions"][0].label]  # the first one still offered


def test_it_adds_a_tested_restricted_account(client, me, dovecot, mail_user):
    allow_loopback()

    response = client.post(reverse("mail-account-add"), fields(dovecot, mail_user))

    assert response.status_code == 302, response.content.decode()[-2000:]
    account = RemoteAccount.objects.get(owner=me.mailbox)
    assert account.network_restricted and account.verify_tls
    assert account.get_password() == mail_user[1]
    page = client.get(reverse("mail-accounts")).content.decode()
    assert "connected and logged in" in page


def test_test_connection_saves_nothing_and_never_echoes_the_password(client, me, dovecot,
                                                                     mail_user):
    allow_loopback()

    response = client.post(reverse("mail-account-add"),
                           fields(dovecot, mail_user, action="test"),
                           HTTP_ACCEPT="application/json")

    assert response.json()["ok"] is True
    assert "connected and logged in: 0 message(s)" in response.json()["line"]
    assert not RemoteAccount.objects.exists()
    page = client.post(reverse("mail-account-add"), fields(dovecot, mail_user, action="test"))
    assert mail_user[1] not in page.content.decode()


def test_a_failing_test_explains_and_offers_save_anyway(client, me, dovecot, mail_user):
    allow_loopback()
    wrong = fields(dovecot, mail_user, password="wrong password")

    response = client.post(reverse("mail-account-add"), wrong)

    text = response.content.decode()
    assert response.status_code == 400
    assert "The server refused the username or password." in text
    assert "What you can do:" in text and "Save anyway" in text
    assert not RemoteAccount.objects.exists()

    response = client.post(reverse("mail-account-add"), {**wrong, "save_anyway": "1"})
    assert response.status_code == 302
    assert RemoteAccount.objects.filter(owner=me.mailbox).count() == 1


def test_it_refuses_internal_servers_unless_allowed(client, me, dovecot, mail_user):
    response = client.post(reverse("mail-account-add"), fields(dovecot, mail_user))

    text = response.content.decode()
    assert response.status_code == 400
    assert "Refused to connect to 127.0.0.1: loopback address" in text
    assert not RemoteAccount.objects.exists()


def test_it_enforces_the_groups_minimum_poll_interval(client, me, dovecot, mail_user):
    allow_loopback()

    response = client.post(reverse("mail-account-add"),
                           fields(dovecot, mail_user, poll_minutes=2))

    assert response.status_code == 400
    assert "every 5 minutes at most often" in response.content.decode()
    assert client.post(reverse("mail-account-add"),
                       fields(dovecot, mail_user, poll_minutes=5)).status_code == 302


def test_it_refuses_users_whose_group_does_not_allow(client, django_user_model):
    user = user_with(django_user_model, "plain", manage=False)
    client.force_login(user)

    assert client.get(reverse("mail-account-add")).status_code == 403
    assert client.post(reverse("mail-account-add"), {"host": "x"}).status_code == 403
    assert "Add an account" not in client.get(reverse("mail-accounts")).content.decode()


def test_edit_keeps_the_password_and_clears_the_back_off(client, me, dovecot, mail_user):
    allow_loopback()
    client.post(reverse("mail-account-add"), fields(dovecot, mail_user))
    account = RemoteAccount.objects.get()
    RemoteAccount.objects.filter(pk=account.pk).update(consecutive_failures=4)

    response = client.post(reverse("mail-account-edit", args=[account.pk]),
                           fields(dovecot, mail_user, password="", name="Work"))

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Work" and account.get_password() == mail_user[1]
    assert account.consecutive_failures == 0 and account.network_restricted


def test_disable_enable_and_delete(client, me):
    account = RemoteAccount(owner=me.mailbox, host="pop.example.test", username="u")
    account.set_password("p")
    account.save()

    client.post(reverse("mail-account-toggle", args=[account.pk]))
    account.refresh_from_db()
    assert account.enabled is False
    client.post(reverse("mail-account-toggle", args=[account.pk]))
    account.refresh_from_db()
    assert account.enabled is True

    assert client.post(reverse("mail-account-delete", args=[account.pk])).status_code == 302
    assert not RemoteAccount.objects.exists()
