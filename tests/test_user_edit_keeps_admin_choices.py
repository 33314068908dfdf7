"""A user editing an account an administrator set up changes only what they touched:
certificate checks and the network reach stay as the administrator chose them (the
form shows them read-only), unless the user points the account at another server."""

import pytest
from django.urls import reverse

from retrieval.models import RemoteAccount
from tests.test_user_self_service import allow_loopback, fields, user_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def dovecot_ports_allowed(settings, dovecot):
    settings.POPADMIN_ALLOWED_PORTS = [995, 993, dovecot.pop3s_port, dovecot.imaps_port]


@pytest.fixture
def me(django_user_model, client):
    user = user_with(django_user_model)
    client.force_login(user)
    return user


def admin_made(me, dovecot, mail_user, password=None):
    account = RemoteAccount(owner=me.mailbox, protocol="pop3", security="tls",
                            host="127.0.0.1", port=dovecot.pop3s_port, username=mail_user[0],
                            verify_tls=False, network_restricted=False)
    account.set_password(password or mail_user[1])
    account.save()
    return account


def test_a_resave_keeps_what_the_administrator_chose(client, me, dovecot, mail_user):
    account = admin_made(me, dovecot, mail_user)
    url = reverse("mail-account-edit", args=[account.pk])

    page = client.get(url).content.decode()
    assert "Set by an administrator" in page and "Certificate checking is off" in page

    response = client.post(url, fields(dovecot, mail_user, password="", keep_policy="keep"))

    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.verify_tls, account.network_restricted) == (False, False)


def test_a_save_anyway_keeps_them_too(client, me, dovecot, mail_user):
    account = admin_made(me, dovecot, mail_user, password="wrong")
    response = client.post(reverse("mail-account-edit", args=[account.pk]),
                           fields(dovecot, mail_user, password="", save_anyway="1"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.verify_tls, account.network_restricted) == (False, False)


def test_pointing_it_elsewhere_leaves_the_exemptions_behind(client, me, dovecot, mail_user,
                                                           settings):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
    allow_loopback()
    account = admin_made(me, dovecot, mail_user)

    response = client.post(reverse("mail-account-edit", args=[account.pk]),
                           fields(dovecot, mail_user, protocol="imap",
                                  port=dovecot.imaps_port, save_anyway="1"), follow=True)

    account.refresh_from_db()
    assert account.protocol == "imap"
    assert (account.verify_tls, account.network_restricted) == (True, True)
    said = [str(m) for m in response.context["messages"]]
    assert any("certificate checks and the network restriction" in s for s in said)


def test_a_new_account_is_restricted(client, me, dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
    allow_loopback()
    response = client.post(reverse("mail-account-add"),
                           fields(dovecot, mail_user, save_anyway="1"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    account = RemoteAccount.objects.get(owner=me.mailbox)
    assert (account.verify_tls, account.network_restricted) == (True, True)
