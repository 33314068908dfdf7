"""A server that quotes the password back in another case never gets it into an error
message (and so into the run history or the account's last error): the mask matches
regardless of case, Unicode case folding included."""

import pytest

from popadmin.net.text import redact
from retrieval.protocols.base import AuthError
from retrieval.protocols.imap import IMAPSession
from retrieval.protocols.pop3 import POP3Session
from tests.fakeserver import FakeServer, ImapMailbox, Pop3Mailbox


@pytest.mark.parametrize("password", ["pa$$w0rd", "Straße-42", "ab"])
def test_a_pop3_server_that_upper_cases_the_password_gets_it_masked(password):
    def shout(conn, arg, state):
        conn.sendline(b"-ERR WRONG PASSWORD " + arg.decode().upper().encode() + b" FOR ALICE")

    with FakeServer(Pop3Mailbox([], overrides={"PASS": shout})) as server:
        with pytest.raises(AuthError) as info:
            POP3Session(server.params(password=password)).connect()

    assert str(info.value) == "login refused by server: WRONG PASSWORD *** FOR ALICE"


def test_an_imap_server_that_lower_cases_the_password_gets_it_masked():
    def login(conn, tag, args, state):
        conn.sendline(tag + b" NO [AUTHENTICATIONFAILED] " + args[1].lower() + b" is wrong")

    mailbox = ImapMailbox(capabilities=("IMAP4rev1",), overrides={"LOGIN": login})
    with FakeServer(mailbox) as server:
        with pytest.raises(AuthError) as info:
            IMAPSession(server.params(password="PA$$W0RD")).connect()

    assert str(info.value) == "login refused by server: [AUTHENTICATIONFAILED] *** is wrong"


@pytest.mark.parametrize(
    "text, secret, expected",
    [
        ("wrong PA$$W0RD here", "pa$$w0rd", "wrong *** here"),
        ("wrong Pa$$w0rd here", "PA$$W0RD", "wrong *** here"),
        ("user STRASSE refused", "straße", "user *** refused"),  # full folding: ß is ss
        ("user straße refused", "STRASSE", "user *** refused"),
        ("ΣΟΦΊΑ!", "σοφία", "***!"),
        ("PASS Q", "q", "PASS ***"),
        ("QUOTA exceeded", "q", "QUOTA exceeded"),  # short: whole tokens only, any case
        ("HUNTER2 and hunter2x", "Hunter2", "*** and ***x"),
        ("abab", "ABAB", "***"),
        ("ababab", "abab", "***"),  # overlapping matches: one wider mask
    ],
)
def test_it_masks_regardless_of_case(text, secret, expected):
    assert redact(text, secret) == expected
