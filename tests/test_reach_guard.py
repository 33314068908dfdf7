"""Restricted accounts reach only public addresses: at save time and at every connect.

Everything here runs on 127.0.0.1, so "public" is played by an allow-list
entry where a test needs a connection to succeed, and by a real public
address that is never actually connected to where it must not.
"""


import pytest

from popadmin.net import sockets
from popadmin.net.reach import ReachRefused
from retrieval import engine
from retrieval.forms import RemoteAccountForm
from retrieval.models import GlobalSettings, Run
from retrieval.sessions import session_for
from tests.dnsserver import DnsServer
from tests.factories import make_account, make_mailbox
from tests.fakeserver import FakeServer, Pop3Mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ports_of_the_test_servers(settings, dovecot):
    settings.POPADMIN_ALLOWED_PORTS = [110, 995, 143, 993, dovecot.pop3s_port, dovecot.pop3_port]


def allow(*entries, restrict_all=False):
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = list(entries)
    gs.restrict_all_accounts = restrict_all
    gs.full_clean()
    gs.save()


def run(account) -> Run:
    return engine.run_account(account.pk, Run.Trigger.MANUAL)


REFUSAL = (
    "refused to connect to 127.0.0.1: loopback address. This account may only reach public "
    "addresses; an administrator can allow internal hosts or networks in the global settings"
)


def test_a_restricted_account_on_the_loopback_is_refused_with_a_clear_run_error(
    dovecot, mail_user
):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, host="127.0.0.1", security="none",
                           network_restricted=True)
    result = run(account)
    assert result.status == Run.Status.ERROR, result.error
    assert REFUSAL in result.error
    assert len(dovecot.messages(mail_user[0])) == 1


def test_an_unrestricted_account_still_reaches_internal_servers(dovecot, mail_user):
    account = make_account(dovecot, *mail_user, host="127.0.0.1", security="none")
    assert run(account).status == Run.Status.OK


def test_the_global_switch_restricts_every_account(dovecot, mail_user):
    allow(restrict_all=True)
    account = make_account(dovecot, *mail_user, host="127.0.0.1", security="none")
    result = run(account)
    assert result.status == Run.Status.ERROR and REFUSAL in result.error


@pytest.mark.parametrize("entry", ["127.0.0.0/8", "127.0.0.1"])
def test_an_allowed_network_lets_a_restricted_account_in(dovecot, mail_user, entry):
    allow(entry)
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user, host="127.0.0.1", security="none",
                           network_restricted=True)
    result = run(account)
    assert (result.status, result.delivered) == (Run.Status.OK, 2), result.error


def test_an_allowed_host_name_connects_with_tls_verified_for_that_name(dovecot, mail_user):
    allow("localhost")
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, host="localhost", security="tls",
                           network_restricted=True)
    result = run(account)
    assert (result.status, result.delivered) == (Run.Status.OK, 1), result.error


def test_a_port_off_the_allow_list_is_refused(settings, dovecot, mail_user):
    allow("127.0.0.0/8")
    settings.POPADMIN_ALLOWED_PORTS = [110, 995]
    account = make_account(dovecot, *mail_user, host="127.0.0.1", security="none",
                           network_restricted=True)
    result = run(account)
    assert result.status == Run.Status.ERROR
    assert f"port {dovecot.pop3_port} is not allowed for this account" in result.error


def test_a_public_looking_name_with_a_private_address_is_refused(settings, dovecot, mail_user):
    with DnsServer({"pop.public-looking.example": [["10.20.30.40"]]}) as dns:
        settings.POPADMIN_DNS_SERVERS = [dns.address]
        account = make_account(dovecot, *mail_user, host="pop.public-looking.example",
                               port=995, network_restricted=True)
        result = run(account)
    assert result.status == Run.Status.ERROR
    assert ("refused to connect to pop.public-looking.example (10.20.30.40): private address"
            in result.error)


def test_it_connects_to_the_checked_address_when_dns_rebinds(settings, monkeypatch):
    """First answer public, every later one private: the socket gets the first."""
    connected = []

    def record(address, timeout=None, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(sockets.socket, "create_connection", record)
    records = {"mail.rebind.example": [["93.184.215.14"], ["10.0.0.1"], ["127.0.0.1"]]}
    with DnsServer(records) as dns:
        settings.POPADMIN_DNS_SERVERS = [dns.address]
        account = make_account_row(host="mail.rebind.example", port=995)
        with pytest.raises(Exception, match="connection refused by mail.rebind.example:995"):
            session_for(account, 5).connect()
        assert dns.count("mail.rebind.example", "A") == 1
    assert connected == [("93.184.215.14", 995)]


def test_it_uses_the_checked_address_end_to_end(settings):
    """A rebinding name the system resolver does not know: only the checked answer works."""
    allow("127.0.0.1/32")
    with FakeServer(Pop3Mailbox([], uidls=[])) as server:
        settings.POPADMIN_ALLOWED_PORTS = [server.port]
        records = {"pop.rebind.example": [["127.0.0.1"], ["10.0.0.1"]]}
        with DnsServer(records) as dns:
            settings.POPADMIN_DNS_SERVERS = [dns.address]
            account = make_account_row(host="pop.rebind.example", port=server.port,
                                       security="none", username="alice", password="secret")
            session = session_for(account, 5)
            session.connect()
            session.commit()
            assert dns.count("pop.rebind.example", "A") == 1
            with pytest.raises(ReachRefused, match=r"\(10.0.0.1\): private address"):
                session_for(account, 5).connect()  # the next connect checks again
    assert server.commands() == [b"CAPA", b"USER", b"PASS", b"QUIT"]


def make_account_row(host, port, security="tls", username="alice", password="secret"):
    from retrieval.models import RemoteAccount

    account = RemoteAccount(owner=make_mailbox(), host=host, port=port, security=security,
                            username=username, network_restricted=True)
    account.set_password(password)
    account.save()
    return account


# --- the form -------------------------------------------------------------


def form(**overrides) -> RemoteAccountForm:
    data = {
        "owner": make_mailbox().pk, "enabled": "on", "protocol": "pop3", "security": "tls",
        "host": "127.0.0.1", "port": "995", "verify_tls": "on", "username": "alice",
        "password": "pw", "folders": "[]", "mode": "single", "keep_policy": "delete",
        "keep_days": "7", "max_message_mb": "0", "network_restricted": "on",
    }
    data.update(overrides)
    return RemoteAccountForm(data={k: v for k, v in data.items() if v is not None})


def test_the_form_refuses_a_restricted_account_on_an_internal_address():
    f = form()
    assert not f.is_valid()
    assert f.errors["host"] == [REFUSAL[0].upper() + REFUSAL[1:] + "."]


def test_the_form_refuses_a_name_resolving_to_a_private_address(settings):
    with DnsServer({"pop.sneaky.example": [["192.168.7.7"]]}) as dns:
        settings.POPADMIN_DNS_SERVERS = [dns.address]
        f = form(host="pop.sneaky.example")
        assert not f.is_valid()
    assert "(192.168.7.7): private address" in f.errors["host"][0]


def test_the_form_refuses_a_port_off_the_list_and_takes_allowed_hosts():
    f = form(host="8.8.8.8", port="2525")
    assert not f.is_valid()
    assert f.errors["port"][0].startswith("Port 2525 is not allowed for this account")
    assert form(host="8.8.8.8", port="").is_valid()  # the default port 995
    allow("127.0.0.0/8")
    assert form().is_valid()
    assert form(network_restricted=None).is_valid()  # staff accounts: unrestricted


def test_the_admin_shows_and_validates_the_allow_list(admin_client):
    gs = GlobalSettings.load()
    url = f"/admin/retrieval/globalsettings/{gs.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="allowed_internal_networks"' in page
    assert 'name="restrict_all_accounts"' in page
    gs.allowed_internal_networks = ["10.0.0.0/8", "not a host"]
    with pytest.raises(Exception, match="'not a host' is neither a network nor a host name"):
        gs.full_clean()


