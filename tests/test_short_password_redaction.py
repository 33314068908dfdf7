"""A server that echoes a short password back never gets it into an error message.

Short secrets are masked where they stand as a token of their own, so a
one-letter password does not turn every "a" of the server's text into "***".
"""

import base64

import pytest

from popadmin.net.text import redact
from retrieval.protocols.base import AuthError
from retrieval.protocols.imap import IMAPSession
from retrieval.protocols.pop3 import POP3Session
from tests.fakeserver import FakeServer, ImapMailbox, Pop3Mailbox


def pop3_error(password: str, echo) -> str:
    with FakeServer(Pop3Mailbox([], overrides={"PASS": echo})) as server:
        with pytest.raises(AuthError) as info:
            POP3Session(server.params(password=password)).connect()
    return str(info.value)


@pytest.mark.parametrize("password", ["x", "7", "ab", "!", "a b"])
def test_it_masks_a_short_password_echoed_in_a_pop3_error(password):
    def echo(conn, arg, state):
        conn.sendline(b"-ERR wrong password " + arg + b" for alice, try again")

    text = pop3_error(password, echo)
    assert text == "login refused by server: wrong password *** for alice, try again"


def test_it_leaves_the_rest_of_the_message_alone_for_a_one_letter_password():
    def echo(conn, arg, state):
        conn.sendline(b"-ERR [AUTH] a password is required; you sent 'a'")

    text = pop3_error("a", echo)
    # The article is masked too (it is the password as a token), but
    # "password", "required" and "sent" keep their letters.
    assert text == "login refused by server: [AUTH] *** password is required; you sent '***'"


def test_it_masks_the_auth_plain_response_echoed_by_a_pop3_server():
    def auth(conn, arg, state):
        conn.sendline("+ ")
        conn.sendline(b"-ERR cannot decode " + conn.readline())

    with FakeServer(
        Pop3Mailbox([], capa=("SASL PLAIN", "UIDL"), overrides={"AUTH": auth})
    ) as server:
        with pytest.raises(AuthError) as info:
            POP3Session(server.params(password="zq")).connect()
    token = base64.b64encode(b"\0alice\0zq").decode()
    assert token not in str(info.value)
    assert str(info.value) == "login refused by server: cannot decode ***"


@pytest.mark.parametrize("password", ["y", "k9"])
def test_it_masks_a_short_password_echoed_in_an_imap_error(password):
    def login(conn, tag, args, state):
        conn.sendline(tag + b" NO [AUTHENTICATIONFAILED] " + args[1] + b" is wrong")

    mailbox = ImapMailbox(capabilities=("IMAP4rev1",), overrides={"LOGIN": login})
    with FakeServer(mailbox) as server:
        with pytest.raises(AuthError) as info:
            IMAPSession(server.params(password=password)).connect()
    assert str(info.value) == "login refused by server: [AUTHENTICATIONFAILED] *** is wrong"


@pytest.mark.parametrize(
    "text, secret, expected",
    [
        ("PASS q", "q", "PASS ***"),
        ("quota exceeded", "q", "quota exceeded"),
        ('"ok" was sent', "ok", '"***" was sent'),
        ("token ok.", "ok", "token ***."),
        ("broken", "ok", "broken"),
        ("hunter2 and hunter2x", "hunter2", "*** and ***x"),
        ("nothing", "", "nothing"),
    ],
)
def test_it_masks_short_secrets_only_as_whole_tokens(text, secret, expected):
    assert redact(text, secret) == expected
