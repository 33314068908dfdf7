"""No POP3 command over the 255 octets RFC 2449 allows, however long the credentials.

Long credentials go by SASL PLAIN with the response on a continuation
line (RFC 5034); without SASL the login fails with a clear error before
anything overlong is sent, and the admin form refuses what no method can send.
"""

import pytest

from retrieval.forms import RemoteAccountForm
from retrieval.protocols.base import AuthError, ConnectionParams
from retrieval.protocols.pop3 import MAX_SASL_LINE, POP3Session
from tests.factories import make_mailbox
from tests.fakeserver import FakeServer, Pop3Mailbox

LONG_PASSWORD = "p" * 150 + " long & \"quoted\" " + "q" * 140  # ~300 characters




def test_it_logs_in_to_dovecot_with_a_300_character_password(dovecot):
    user, password = dovecot.add_user(password=LONG_PASSWORD)
    params = ConnectionParams(
        host=dovecot.host, port=dovecot.pop3_port, security="none",
        username=user, password=password, timeout=10,
    )
    session = POP3Session(params)
    session.connect()
    try:
        assert session.auth_method == "AUTH PLAIN"
        assert session.list_messages() == []
    finally:
        session.commit()


def test_it_sends_long_credentials_as_an_auth_plain_continuation():
    users = {"alice": LONG_PASSWORD}
    capa = ("USER", "UIDL", "SASL PLAIN")
    with FakeServer(Pop3Mailbox([], uidls=[], users=users, capa=capa)) as server:
        session = POP3Session(server.params(password=LONG_PASSWORD))
        session.connect()
        session.commit()
    capa_, auth, response, quit_ = server.received
    assert (capa_, auth, quit_) == (b"CAPA", b"AUTH PLAIN", b"QUIT")
    assert 255 < len(response) + 2 <= MAX_SASL_LINE  # a continuation, not a command


@pytest.mark.parametrize(
    "username, password",
    [("alice", "x" * 249), ("a" * 249, "short"), ("ä" * 125, "short")],
    ids=["password", "username", "utf8-username"],
)
def test_it_refuses_overlong_user_pass_when_the_server_offers_no_sasl(username, password):
    users = {username: password}
    with FakeServer(Pop3Mailbox([], users=users, capa=("USER", "UIDL"))) as server:
        with pytest.raises(AuthError) as info:
            POP3Session(server.params(username=username, password=password)).connect()
    assert "over the 255 octets POP3 allows (RFC 2449)" in str(info.value)
    assert "offers no SASL PLAIN" in str(info.value)
    assert password not in str(info.value)
    assert server.commands() == [b"CAPA"]
    assert all(len(line) + 2 <= 255 for line in server.received)


def test_it_keeps_user_pass_up_to_the_limit():
    password = "y" * 248  # "PASS " + 248 + CRLF = 255 octets exactly
    with FakeServer(Pop3Mailbox([], uidls=[], users={"alice": password})) as server:
        session = POP3Session(server.params(password=password))
        session.connect()
        session.commit()
    assert server.commands() == [b"CAPA", b"USER", b"PASS", b"QUIT"]
    assert max(len(line) + 2 for line in server.received) == 255


def test_it_skips_apop_when_the_command_would_be_too_long():
    username = "u" * 230  # APOP + name + digest: 270 octets; USER/PASS fit
    greeting = b"+OK ready <1.2@fake.test>"
    users = {username: "pw"}
    with FakeServer(Pop3Mailbox([], uidls=[], users=users, greeting=greeting)) as server:
        session = POP3Session(server.params(username=username, password="pw"))
        session.connect()
        session.commit()
    assert b"APOP" not in server.commands()
    assert all(len(line) + 2 <= 255 for line in server.received)


def test_it_refuses_credentials_too_long_even_for_sasl():
    password = "z" * 400
    capa = ("USER", "SASL PLAIN")
    with FakeServer(Pop3Mailbox([], users={"alice": password}, capa=capa)) as server:
        with pytest.raises(AuthError, match=f"over the {MAX_SASL_LINE} that servers accept"):
            POP3Session(server.params(password=password)).connect()
    assert server.commands() == [b"CAPA"]


# --- the admin form -------------------------------------------------------


def form(owner, **overrides) -> RemoteAccountForm:
    data = {
        "owner": owner.pk, "enabled": "on", "protocol": "pop3", "security": "tls",
        "host": "pop.example.test", "port": "995", "verify_tls": "on", "username": "alice",
        "password": "pw", "folders": "[]", "mode": "single", "keep_policy": "delete",
        "keep_days": "7", "max_message_mb": "0",
    }
    data.update(overrides)
    return RemoteAccountForm(data=data)


@pytest.mark.django_db
def test_the_form_refuses_credentials_no_pop3_login_can_send():
    f = form(make_mailbox(), password="z" * 400)
    assert not f.is_valid()
    assert f.errors["password"] == [
        "The username and password are too long for POP3: even a SASL PLAIN login "
        "would send a 546-octet line, over the 512 that servers accept."
    ]


@pytest.mark.django_db
def test_the_form_takes_long_credentials_sasl_can_send_and_any_for_imap():
    owner = make_mailbox()
    assert form(owner, password=LONG_PASSWORD).is_valid()
    assert form(owner, password="z" * 400, protocol="imap", port="993").is_valid()


@pytest.mark.django_db
def test_the_form_checks_a_new_username_against_the_stored_password():
    owner = make_mailbox()
    first = form(owner, password="z" * 300)
    assert first.is_valid(), first.errors
    account = first.save()
    f = RemoteAccountForm(
        instance=account,
        data={**form(owner).data, "password": "", "username": "a" * 100},
    )
    assert not f.is_valid()
    assert "too long for POP3" in f.errors["password"][0]
