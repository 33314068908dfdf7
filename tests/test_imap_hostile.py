"""IMAPSession against a scripted fake server: faults a real server won't produce.

Faults POP3 servers have too (overlong lines, drips, cut downloads, bad
greetings) are played through the engine in test_hostile_server_contract.py.
"""

import io
import re
import time

import pytest

from popadmin.net.errors import LimitExceeded, MessageTooLarge, ProtocolError, TLSError
from retrieval.protocols.base import AuthError, RemoteMessage
from retrieval.protocols.imap import IMAPSession, IncompleteMessage
from retrieval.protocols.imap_parse import BodySink, mutf7_encode, uid_sets
from tests.fakeserver import FakeServer, ImapMailbox, self_signed_cert, server_context

HELLO = b"Subject: hello\r\n\r\nhello\r\n"
WORLD = b"Subject: world\r\n\r\nworld\r\n"
NOISE = (
    b"* 3 EXISTS\r\n* 1 RECENT\r\n* OK [ALERT] maintenance tonight\r\n"
    b"* 1 FETCH (FLAGS (\\Seen))\r\n* 2 FETCH (UID 99 FLAGS ())\r\n"
    b"* 2 FETCH (UID 99 BODY[HEADER] {12}\r\nSubject: x\r\n)\r\n* NO [ALERT] disk nearly full\r\n"
)


def login(server, **overrides) -> IMAPSession:
    session = IMAPSession(server.params(**overrides))
    session.connect()
    return session


def fetch(session, msg, max_bytes=None) -> bytes:
    out = io.BytesIO()
    assert session.fetch(msg, out, max_bytes) == len(out.getvalue())
    return out.getvalue()


def verbs(server) -> list[str]:
    """The commands the server received, without tags, literals or SASL answers."""
    found = []
    for line in server.received:
        match = re.match(rb"A\d+ (UID \w+|\w+)", line)
        if match:
            found.append(match.group(1).decode())
    return found


def hangup_after(data: bytes):
    def handler(conn, tag, args, state):
        conn.send(data)
        return "hangup"

    return handler


def test_it_lists_fetches_and_deletes_only_at_commit():
    mailbox = ImapMailbox({"INBOX": [HELLO, WORLD]})
    with FakeServer(mailbox) as server:
        session = login(server)
        msgs = session.list_messages()
        assert msgs == [
            RemoteMessage("INBOX/7/1", "INBOX\x001", len(HELLO)),
            RemoteMessage("INBOX/7/2", "INBOX\x002", len(WORLD)),
        ]
        assert session.uidvalidity == {"INBOX": 7}
        assert fetch(session, msgs[0]) == b"Subject: hello\n\nhello\n"
        session.delete(msgs[0])
        assert "UID STORE" not in verbs(server)  # nothing changes before commit()
        session.commit()
        session.close()
        assert verbs(server) == [
            "CAPABILITY", "AUTHENTICATE", "CAPABILITY", "SELECT", "UID FETCH", "UID FETCH",
            "UID STORE", "UID EXPUNGE", "LOGOUT",
        ]  # fmt: skip
        assert b"A007 UID STORE 1 +FLAGS.SILENT (\\Deleted)" in server.received
    assert [m["data"] for m in mailbox.folders["INBOX"]] == [WORLD]


def test_close_without_commit_leaves_the_mailbox_untouched():
    mailbox = ImapMailbox({"INBOX": [HELLO]})
    with FakeServer(mailbox) as server:
        session = login(server)
        session.delete(session.list_messages()[0])
        session.close()
        session.close()
        assert "UID STORE" not in verbs(server) and "LOGOUT" not in verbs(server)
    assert mailbox.folders["INBOX"][0]["flags"] == set()


def test_an_empty_folder_is_not_asked_for_1_to_star():
    with FakeServer(ImapMailbox({"INBOX": []})) as server:
        assert login(server).list_messages() == []
        assert "UID FETCH" not in verbs(server)


def test_untagged_responses_everywhere_do_not_disturb():
    mailbox = ImapMailbox({"INBOX": [HELLO, WORLD]}, noise=NOISE)
    with FakeServer(mailbox) as server:
        session = login(server)
        msgs = session.list_messages()
        assert [m.uid for m in msgs] == ["INBOX/7/1", "INBOX/7/2"]
        assert fetch(session, msgs[1]) == b"Subject: world\n\nworld\n"
        session.delete(msgs[1])
        session.commit()
        alerts = ["server alert: maintenance tonight", "server alert: disk nearly full"]
        assert session.warnings == alerts
    assert [m["data"] for m in mailbox.folders["INBOX"]] == [HELLO]


@pytest.mark.parametrize(
    "answer",
    [
        b"* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 1 FLAGS (\\Seen))\r\n",  # UID after the body
        b"* 9 FETCH (UID 2 BODY[] {3}\r\nxyz)\r\n* 1 FETCH (UID 1 BODY[] {5}\r\nab\r\nc)\r\n",
        b"* 1 FETCH (FLAGS () UID 1 BODY[] {5}\r\nab\r\nc)\r\n* 1 FETCH (FLAGS (\\Seen))\r\n",
    ],
)
def test_the_body_is_taken_from_the_right_fetch_response(answer):
    def body(conn, tag, args, state):
        conn.send(answer + tag + b" OK done\r\n")

    mailbox = ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": body})
    with FakeServer(mailbox) as server:
        session = login(server)
        assert fetch(session, RemoteMessage("INBOX/7/1", "INBOX\x001", 5)) == b"ab\nc"


def test_a_body_for_another_uid_is_an_error_and_no_body_means_vanished():
    def wrong(conn, tag, args, state):
        conn.send(b"* 1 FETCH (BODY[] {3}\r\nxyz UID 5)\r\n" + tag + b" OK done\r\n")

    def nothing(conn, tag, args, state):
        conn.send(b"* 1 FETCH (FLAGS (\\Deleted))\r\n" + tag + b" OK done\r\n")

    msg = RemoteMessage("INBOX/7/1", "INBOX\x001", 5)
    for handler, error in [
        (wrong, "sent message 5 when asked for message 1"),
        (nothing, "vanished"),
    ]:
        with FakeServer(ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": handler})) as s:
            with pytest.raises(ProtocolError, match=error):
                fetch(login(s), msg)


def test_body_sink_converts_crlf_split_across_chunks():
    out = io.BytesIO()
    sink = BodySink(1, out, None, "message 1")
    chunks = [b"a\r", b"\nb\r", b"\r", b"\n\rc\r\r", b"\n", b"end\r"]
    for chunk in chunks:
        sink.write(chunk)
    sink.finish()
    assert out.getvalue() == b"".join(chunks).replace(b"\r\n", b"\n") == b"a\nb\r\n\rc\r\nend\r"
    assert sink.written == len(out.getvalue()) and sink.received == sum(map(len, chunks))


def test_a_big_message_streams_with_crlf_turned_into_lf():
    big = b"Subject: big\r\n\r\n" + b"".join(b"line %06d \xff\x00\r\n" % n for n in range(100_000))
    with FakeServer(ImapMailbox({"INBOX": [big]})) as server:
        session = login(server)
        assert fetch(session, session.list_messages()[0]) == big.replace(b"\r\n", b"\n")


def test_a_literal_over_max_bytes_is_refused_without_reading_it():
    def huge(conn, tag, args, state):
        conn.send(b"* 1 FETCH (UID 1 BODY[] {500000000}\r\n" + b"x" * 100_000)
        conn.sleep(30)

    with FakeServer(ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": huge})) as server:
        session = login(server)
        out = io.BytesIO()
        with pytest.raises(MessageTooLarge, match="500000000 bytes, larger than the limit of 5000"):
            session.fetch(RemoteMessage("INBOX/7/1", "INBOX\x001", 5), out, max_bytes=5000)
        # Reading on would have hit the timeout instead: the server stalls after 100 kB.
        assert out.getvalue() == b""
        with pytest.raises(ProtocolError, match="not connected"):
            session.delete(RemoteMessage("INBOX/7/1", "INBOX\x001", 5))


def test_a_connection_lost_mid_literal_is_reported_incomplete():
    cut = hangup_after(b"* 1 FETCH (UID 1 BODY[] {1000}\r\nSubject: cut\r\n\r\npartial")
    with FakeServer(ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": cut})) as server:
        session = login(server)
        out = io.BytesIO()
        with pytest.raises(IncompleteMessage, match="broke off after 23 of 1000 bytes") as info:
            session.fetch(RemoteMessage("INBOX/7/1", "INBOX\x001", 5), out)
        assert (info.value.received, info.value.expected) == (23, 1000)
        assert out.getvalue() == b"Subject: cut\n\npartial"  # the caller must discard it
        with pytest.raises(ProtocolError, match="not connected"):
            session.commit()


def test_it_caps_a_listing_that_never_ends():
    line = b'* 1 FETCH (UID 1 RFC822.SIZE 10 X-PAD "' + b"u" * 60_000 + b'")\r\n'

    def endless(conn, tag, args, state):
        while not server.stopping.is_set():
            conn.send(line * 16)

    mailbox = ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": endless})
    with FakeServer(mailbox) as server:
        session = login(server)
        started = time.monotonic()
        with pytest.raises(LimitExceeded, match="more than 268435456 bytes in one response"):
            session.list_messages()
        assert time.monotonic() - started < 20


def test_100000_messages_are_listed_with_one_uid_fetch():
    lines = b"".join(b"* %d FETCH (UID %d RFC822.SIZE 3)\r\n" % (n, n) for n in range(1, 100_001))

    def listing(conn, tag, args, state):
        conn.send(lines + tag + b" OK done\r\n")

    mailbox = ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": listing})
    with FakeServer(mailbox) as server:
        session = login(server)
        msgs = session.list_messages()
        assert len(msgs) == 100_000 and msgs[-1] == RemoteMessage(
            "INBOX/7/100000", "INBOX\x00100000", 3
        )
        assert verbs(server).count("UID FETCH") == 1


def test_literals_in_responses_are_read_but_capped():
    def literals(conn, tag, args, state):
        conn.send(b"* 1 FETCH (UID 1 X-NOTE {3}\r\nabc RFC822.SIZE 26)\r\n" + tag + b" OK\r\n")

    with FakeServer(ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": literals})) as s:
        assert [m.size for m in login(s).list_messages()] == [26]
    big = hangup_after(b"* 1 FETCH (UID 1 X-NOTE {70000}\r\n" + b"a" * 70000)
    with FakeServer(ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": big})) as s:
        with pytest.raises(LimitExceeded, match="announced 70000 bytes"):
            login(s).list_messages()


def test_deep_nesting_is_a_protocol_error():
    nested = hangup_after(b"* 1 FETCH (X " + b"(" * 5000 + b")\r\n")
    with FakeServer(ImapMailbox({"INBOX": [HELLO]}, overrides={"UID FETCH": nested})) as s:
        with pytest.raises(ProtocolError, match="too deeply nested"):
            login(s).list_messages()


def test_bye_explains_a_dropped_connection():
    bye = hangup_after(b"* BYE shutting down for maintenance\r\n")
    with FakeServer(ImapMailbox({"INBOX": [HELLO]}, overrides={"SELECT": bye})) as server:
        with pytest.raises(ProtocolError, match="closed the connection: shutting down for maint"):
            login(server).list_messages()


@pytest.fixture
def cert(tmp_path):
    return self_signed_cert(tmp_path)


def test_starttls_not_offered_never_sends_the_password():
    with FakeServer(ImapMailbox({"INBOX": [HELLO]})) as server:
        with pytest.raises(TLSError, match="does not offer STARTTLS"):
            login(server, security="starttls")
        assert verbs(server) == ["CAPABILITY"]
        assert not any(b"secret" in line or b"AUTH" in line for line in server.received)


def test_a_refused_starttls_never_sends_the_password(cert):
    def refuse(conn, tag, args, state):
        conn.sendline(tag + b" NO [UNAVAILABLE] TLS is broken today")

    mailbox = ImapMailbox(stls_context=server_context(*cert), overrides={"STARTTLS": refuse})
    with FakeServer(mailbox) as server:
        with pytest.raises(TLSError, match="server refused STARTTLS: .UNAVAILABLE. TLS is broken"):
            login(server, security="starttls", ca_file=cert[0])
        assert verbs(server) == ["CAPABILITY", "STARTTLS"]


def test_preauth_rules_out_starttls():
    with FakeServer(ImapMailbox(greeting=b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi")) as s:
        with pytest.raises(TLSError, match="PREAUTH, which rules out STARTTLS"):
            login(s, security="starttls")
        assert s.received == []
        session = login(s)  # without STARTTLS asked for, PREAUTH needs no password at all
        assert session.auth_method == "PREAUTH" and verbs(s) == []


def test_starttls_upgrades_and_forgets_capabilities_seen_in_clear(cert):
    greeting = b"* OK [CAPABILITY IMAP4rev1 STARTTLS UIDPLUS AUTH=PLAIN] forged"
    mailbox = ImapMailbox(
        {"INBOX": [HELLO]}, greeting=greeting, capabilities=("IMAP4rev1", "AUTH=PLAIN"),
        stls_context=server_context(*cert),
    )  # fmt: skip
    with FakeServer(mailbox) as server:
        session = login(server, security="starttls", ca_file=cert[0])
        assert "UIDPLUS" not in session.capabilities
        assert fetch(session, session.list_messages()[0]) == b"Subject: hello\n\nhello\n"
        assert verbs(server)[:4] == ["STARTTLS", "CAPABILITY", "AUTHENTICATE", "CAPABILITY"]


def test_data_sent_along_with_the_starttls_answer_is_refused(cert):
    context = server_context(*cert)

    def starttls(conn, tag, args, state):
        conn.send(tag + b" OK begin TLS\r\n* PREAUTH injected\r\n")
        conn.starttls(context)

    mailbox = ImapMailbox(stls_context=context, overrides={"STARTTLS": starttls})
    with FakeServer(mailbox) as server:
        with pytest.raises(TLSError, match="injection"):
            login(server, security="starttls", ca_file=cert[0])
        assert verbs(server) == ["CAPABILITY", "STARTTLS"]


def test_login_quotes_and_uses_literals_when_auth_plain_is_missing():
    users = {"bob smith": 'p a"s\\s', "jürgen": "pässwörd ü"}
    mailbox = ImapMailbox({"INBOX": [HELLO]}, users=users, capabilities=("IMAP4rev1",))
    with FakeServer(mailbox) as server:
        session = login(server, username="bob smith", password='p a"s\\s')
        assert session.auth_method == "LOGIN"
        assert b'A002 LOGIN "bob smith" "p a\\"s\\\\s"' in server.received
        server.received.clear()
        login(server, username="jürgen", password="pässwörd ü").list_messages()
        assert server.received[1:4] == [
            b"A002 LOGIN {7}", "jürgen".encode(), b" {13}"
        ]  # fmt: skip


def test_authenticate_plain_without_sasl_ir_waits_for_the_go_ahead():
    mailbox = ImapMailbox({"INBOX": [HELLO]}, capabilities=("IMAP4rev1", "AUTH=PLAIN"))
    with FakeServer(mailbox) as server:
        assert login(server).auth_method == "AUTHENTICATE PLAIN"
        assert b"A002 AUTHENTICATE PLAIN" in server.received


def test_logindisabled_without_auth_plain_is_a_clear_error():
    mailbox = ImapMailbox(capabilities=("IMAP4rev1", "LOGINDISABLED", "AUTH=GSSAPI"))
    with FakeServer(mailbox) as server:
        with pytest.raises(AuthError, match="LOGINDISABLED"):
            login(server)
        assert verbs(server) == ["CAPABILITY"]


@pytest.mark.parametrize("password", ["x\r\nA1 DELETE INBOX", "nul\0byte", "lf\n"])
def test_line_breaks_in_credentials_are_refused_before_sending(password):
    with FakeServer(ImapMailbox()) as server:
        with pytest.raises(AuthError, match="line break or NUL") as info:
            login(server, password=password)
        assert "DELETE" not in str(info.value) and server.received == []


def test_a_refused_login_never_shows_the_password():
    with FakeServer(ImapMailbox()) as server:
        with pytest.raises(AuthError) as info:
            login(server, password="hunter2-wrong")
    assert str(info.value) == "login refused by server: [AUTHENTICATIONFAILED] no"

    def echo(conn, tag, args, state):
        conn.sendline(tag + b" NO bad password " + args[1])

    mailbox = ImapMailbox(capabilities=("IMAP4rev1",), overrides={"LOGIN": echo})
    with FakeServer(mailbox) as server:
        with pytest.raises(AuthError) as info:
            login(server, password="hunter2-wrong")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)

    def garbage(conn, tag, args, state):
        conn.sendline(b"?? what is " + args[1])

    mailbox = ImapMailbox(capabilities=("IMAP4rev1",), overrides={"LOGIN": garbage})
    with FakeServer(mailbox) as server:
        with pytest.raises(ProtocolError, match="malformed response") as info:
            login(server, password="hunter2-wrong")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_missing_folders_are_named_with_or_without_a_response_code():
    def plain_no(conn, tag, args, state):
        conn.sendline(tag + b" NO cannot do that")

    def noperm(conn, tag, args, state):
        conn.sendline(tag + b" NO [NOPERM] not yours")

    cases = [
        ({}, "folder 'Entwürfe' does not exist on the server"),
        ({"SELECT": plain_no}, "folder 'Entwürfe' does not exist on the server"),
        ({"SELECT": noperm}, "server refused to open folder 'Entwürfe': [NOPERM] not yours"),
    ]
    for overrides, error in cases:
        mailbox = ImapMailbox({"INBOX": [HELLO]}, overrides=overrides)
        with FakeServer(mailbox) as server:
            with pytest.raises(ProtocolError, match=re.escape(error)):
                login(server, folders=("Entwürfe",)).list_messages()
            assert b'A004 SELECT "Entw&APw-rfe"' in server.received


def test_a_uidvalidity_change_during_the_session_stops_the_fetch():
    mailbox = ImapMailbox({"INBOX": [HELLO], "Archive": [WORLD]})
    with FakeServer(mailbox) as server:
        session = login(server, folders=("INBOX", "Archive"))
        msgs = session.list_messages()
        assert session.uidvalidity == {"INBOX": 7, "Archive": 7}
        mailbox.uidvalidity = 8
        with pytest.raises(ProtocolError, match="UIDVALIDITY 7 is now 8"):
            fetch(session, msgs[0])


def test_without_uidplus_a_foreign_deleted_message_blocks_any_expunge():
    mailbox = ImapMailbox(
        {"INBOX": [HELLO, (WORLD, {"\\Deleted"}), HELLO]}, capabilities=("IMAP4rev1", "AUTH=PLAIN")
    )
    with FakeServer(mailbox) as server:
        session = login(server)
        msgs = session.list_messages()
        session.delete(msgs[0])
        session.delete(msgs[2])
        session.commit()
        assert not any("EXPUNGE" in verb or "CLOSE" in verb for verb in verbs(server))
        assert b"A006 UID STORE 1,3 +FLAGS.SILENT (\\Deleted)" in server.received
        assert "1 other message(s) there are marked deleted" in session.warnings[0]
    assert len(mailbox.folders["INBOX"]) == 3  # ours stay marked for the next expunge


def test_without_uidplus_close_removes_ours_when_nothing_else_is_marked():
    mailbox = ImapMailbox({"INBOX": [HELLO, WORLD]}, capabilities=("IMAP4rev1", "AUTH=PLAIN"))
    with FakeServer(mailbox) as server:
        session = login(server)
        session.delete(session.list_messages()[0])
        session.commit()
        assert verbs(server)[-4:] == ["UID STORE", "UID SEARCH", "CLOSE", "LOGOUT"]
        assert not any("EXPUNGE" in verb for verb in verbs(server)) and session.warnings == []
    assert [m["data"] for m in mailbox.folders["INBOX"]] == [WORLD]


def test_mutf7_and_uid_sets():
    assert mutf7_encode("Entwürfe") == b"Entw&APw-rfe"
    assert mutf7_encode("~peter/mail/台北/日本語") == b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert mutf7_encode("A&B") == b"A&-B"
    assert mutf7_encode("😀") == b"&2D3eAA-"
    assert uid_sets([5, 1, 2, 3, 9, 10]) == [b"1:3,5,9:10"]
    chunks = uid_sets(list(range(1, 20000, 2)), max_len=100)
    assert all(len(c) <= 100 for c in chunks) and len(b",".join(chunks).split(b",")) == 10000
