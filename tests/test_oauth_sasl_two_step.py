"""POP3 AUTH XOAUTH2 with the initial response sent after the server's "+ " (Office 365
wants it so, getmail6 #256), and never an AUTH command over 255 octets."""

import base64

import pytest

from retrieval.protocols.base import AuthError
from retrieval.protocols.pop3 import MAX_COMMAND, POP3Session
from tests.fakeserver import FakeServer, Pop3Mailbox

# Microsoft's access tokens are JWTs of 1,500+ characters.
LONG_TOKEN = "eyJ0eXAiOiJKV1Qi." + "x" * 1800 + ".sig"


def two_step_only(token: str, logins: list):
    """AUTH XOAUTH2 as Office 365 does it: an initial response on the AUTH line is refused."""

    def auth(conn, arg, state):
        mechanism, _, initial = arg.partition(b" ")
        if mechanism.upper() != b"XOAUTH2" or initial:
            return conn.sendline("-ERR initial response not accepted on the AUTH line")
        conn.sendline("+ ")
        raw = base64.b64decode(conn.readline()).decode()
        if raw == f"user=alice\x01auth=Bearer {token}\x01\x01":
            logins.append(raw)
            state["authed"] = True
            return conn.sendline("+OK User successfully authenticated.")
        error = base64.b64encode(b'{"status":"401","schemes":"bearer"}')
        conn.sendline(b"+ " + error)
        conn.readline()  # the client's empty answer
        conn.sendline("-ERR Authentication failure: unknown user name or bad password.")

    return {"AUTH": auth}


def server_for(token, logins):
    capa = ("USER", "UIDL", "SASL PLAIN XOAUTH2")
    return FakeServer(Pop3Mailbox([b"Subject: a\r\n\r\nbody\r\n"], uidls=["u1"], capa=capa,
                                  overrides=two_step_only(token, logins)))


def test_it_sends_a_long_token_after_the_servers_continuation():
    logins = []
    with server_for(LONG_TOKEN, logins) as server:
        session = POP3Session(server.params(password="", sasl="xoauth2", bearer=LONG_TOKEN))
        session.connect()
        listing = session.list_messages()
        session.commit()

    assert len(logins) == 1 and len(listing) == 1
    assert server.received[1] == b"AUTH XOAUTH2"
    commands = [line for line in server.received if not line.startswith(b"dXNlcj")]
    assert all(len(line) + 2 <= MAX_COMMAND for line in commands)


def test_a_refused_token_ends_as_sign_in_refused_without_echoing_it():
    with server_for("the-right-token", []) as server:
        session = POP3Session(server.params(password="", sasl="xoauth2", bearer=LONG_TOKEN))
        with pytest.raises(AuthError) as caught:
            session.connect()

    assert "sign-in refused by server: reconnect" in str(caught.value)
    assert '"status":"401"' in str(caught.value)
    assert LONG_TOKEN not in str(caught.value)
    assert server.received[-1] == b""  # the empty answer to the error challenge


def test_a_short_token_goes_on_the_auth_line():
    received = []

    def auth(conn, arg, state):
        received.append(arg)
        state["authed"] = True
        conn.sendline("+OK")

    capa = ("USER", "UIDL", "SASL OAUTHBEARER")
    with FakeServer(Pop3Mailbox([], uidls=[], capa=capa, overrides={"AUTH": auth})) as server:
        session = POP3Session(server.params(password="", sasl="oauthbearer", bearer="tok"))
        session.connect()
        session.commit()

    mechanism, initial = received[0].split(b" ")
    assert mechanism == b"OAUTHBEARER"
    assert base64.b64decode(initial).startswith(b"n,a=alice,\x01host=127.0.0.1\x01")
