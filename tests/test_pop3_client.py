"""POP3Session against a scripted fake server: the normal path and hostile servers."""

import hashlib
import io
import socket
import time
from dataclasses import replace

import pytest

from popadmin.net.errors import (
    ConnectError,
    LimitExceeded,
    MessageTooLarge,
    ProtocolError,
    TLSError,
)
from popadmin.net.stream import ConnectionClosed, LineStream
from retrieval.protocols.base import AuthError, ConnectionParams, FetchFailed, RemoteMessage
from retrieval.protocols.pop3 import POP3Session
from tests.fakeserver import FakeServer, Pop3Mailbox, self_signed_cert, server_context

HELLO = b"Subject: hello\r\n\r\nhello\r\n"
WORLD = b"Subject: world\r\n\r\nworld\r\n"


def login(server, **overrides) -> POP3Session:
    session = POP3Session(server.params(**overrides))
    session.connect()
    return session


def fetch(session, msg, max_bytes=None) -> bytes:
    out = io.BytesIO()
    written = session.fetch(msg, out, max_bytes)
    assert written == len(out.getvalue())
    return out.getvalue()


def fetch_one(message: bytes) -> bytes:
    with FakeServer(Pop3Mailbox([message], uidls=["u1"])) as server:
        session = login(server)
        return fetch(session, session.list_messages()[0])


def test_it_lists_fetches_deletes_and_commits():
    mailbox = Pop3Mailbox([HELLO, WORLD], uidls=["u1", "u2"])
    with FakeServer(mailbox) as server:
        session = login(server)
        msgs = session.list_messages()
        assert msgs == [RemoteMessage("u1", "1", len(HELLO)), RemoteMessage("u2", "2", len(WORLD))]
        assert fetch(session, msgs[0]) == b"Subject: hello\n\nhello\n"
        assert fetch(session, msgs[1]) == b"Subject: world\n\nworld\n"
        session.delete(msgs[0])
        session.commit()
        session.close()  # idempotent after commit
        assert server.commands() == b"CAPA USER PASS UIDL LIST RETR RETR DELE QUIT".split()
    assert mailbox.messages == [WORLD]


def test_close_without_commit_keeps_the_messages():
    mailbox = Pop3Mailbox([HELLO, WORLD], uidls=["u1", "u2"])
    with FakeServer(mailbox) as server:
        session = login(server)
        session.delete(session.list_messages()[0])
        session.close()
        session.close()
        assert b"QUIT" not in server.commands()
    assert mailbox.messages == [HELLO, WORLD]


def test_it_undoes_dot_stuffing_and_converts_crlf():
    message = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
    assert fetch_one(message) == b"Subject: dots\n\n.leading dot\n..two dots\n.\nend\n"


def test_it_accepts_bare_lf_line_endings():
    assert fetch_one(b"Subject: lf\n\nbody\n.dot\n") == b"Subject: lf\n\nbody\n.dot\n"

    def retr(conn, arg, state):  # even the terminator without CR
        conn.send(b"+OK\nSubject: lf\n\n..x\n.\n")

    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"], overrides={"RETR": retr})) as server:
        session = login(server)
        assert fetch(session, session.list_messages()[0]) == b"Subject: lf\n\n.x\n"


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 7])
def test_it_finds_dots_and_the_terminator_across_packet_boundaries(cut):
    # The body is copied a buffered chunk at a time; a "\r\n." or the final
    # ".\r\n" split between packets must still be seen.
    wire = b"Subject: s\r\n\r\n..a\r\nb.\r\n..\r\n...\r\nend\r\n.\r\n"

    def retr(conn, arg, state):
        conn.send(b"+OK\r\n")
        for start in range(0, len(wire), cut):
            conn.send(wire[start : start + cut])
            time.sleep(0.001)

    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"], overrides={"RETR": retr})) as server:
        session = login(server)
        body = fetch(session, session.list_messages()[0])
    assert body == b"Subject: s\n\n.a\nb.\n.\n..\nend\n"


def test_it_passes_8bit_nul_and_bare_cr_through():
    message = b"Subject: \xe4\xf6\xfc\r\n\r\nnul\x00byte \xff\xfe\x80\r\n\x00\r\ncr\rinside\r\n"
    expected = b"Subject: \xe4\xf6\xfc\n\nnul\x00byte \xff\xfe\x80\n\x00\ncr\rinside\n"
    assert fetch_one(message) == expected


def test_it_stops_reading_a_10mb_line_at_the_limit():
    with FakeServer(lambda conn: conn.send(b"+OK " + b"x" * 10_000_000)) as server:
        with pytest.raises(LimitExceeded, match="line longer than 65536 bytes"):
            login(server)


def test_it_stops_a_10mb_line_inside_a_message():
    def retr(conn, arg, state):
        conn.send(b"+OK\r\nSubject: x\r\n\r\n" + b"y" * 10_000_000)

    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"], overrides={"RETR": retr})) as server:
        session = login(server)
        out = io.BytesIO()
        # A failed fetch of that one message, on a connection now closed.
        with pytest.raises(FetchFailed, match="line longer than 65536 bytes") as info:
            session.fetch(session.list_messages()[0], out)
        assert not info.value.connected
        assert len(out.getvalue()) < 1024
        with pytest.raises(ProtocolError, match="not connected"):
            session.delete(RemoteMessage("u1", "1", 1))


def test_it_caps_a_listing_that_never_ends():
    line = b"1 " + b"u" * 60_000 + b"\r\n"

    def endless(conn, arg, state):
        conn.send(b"+OK\r\n")
        while not server.stopping.is_set():
            conn.send(line * 16)

    with FakeServer(Pop3Mailbox([], uidls=[], overrides={"UIDL": endless})) as server:
        session = login(server)
        started = time.monotonic()
        with pytest.raises(LimitExceeded, match="more than 268435456 bytes in one response"):
            session.list_messages()
        assert time.monotonic() - started < 20


def test_it_gives_up_on_a_server_that_drips_one_byte_per_second():
    def drip(conn):
        for byte in b"+OK ready\r\n":
            conn.send(bytes([byte]))
            if not conn.sleep(1):
                return

    with FakeServer(drip) as server:
        started = time.monotonic()
        with pytest.raises(ProtocolError, match="no answer from server for 2 s"):
            login(server, timeout=2.0)
        # Not a speed test: without the rate check this would drip forever.
        assert time.monotonic() - started < 30


def test_it_gives_up_on_a_silent_server():
    with FakeServer(lambda conn: conn.sleep(30)) as server:
        with pytest.raises(ProtocolError, match=r"^no answer from server for 1 s$"):
            login(server, timeout=1.0)


def test_a_connection_lost_mid_message_is_an_error():
    def retr(conn, arg, state):
        conn.send(b"+OK\r\nSubject: cut\r\n\r\nfirst line\r\npartial")
        return "hangup"

    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"], overrides={"RETR": retr})) as server:
        session = login(server)
        out = io.BytesIO()
        with pytest.raises(ProtocolError, match="connection lost while downloading message 1"):
            session.fetch(session.list_messages()[0], out)
        assert out.getvalue() == b"Subject: cut\n\nfirst line\n"  # the caller must discard it
        with pytest.raises(ProtocolError, match="not connected"):
            session.commit()


def test_it_rejects_a_garbage_greeting_with_a_clean_message():
    greeting = b"HTTP/1.1 400 Bad Request\x1b[31m\xff" + b"z" * 300
    with FakeServer(Pop3Mailbox([], greeting=greeting)) as server:
        with pytest.raises(ProtocolError) as info:
            login(server)
    message = str(info.value)
    assert message.startswith("unexpected greeting from server: HTTP/1.1 400 Bad Request?[31m?")
    assert len(message) < 150 and message.isprintable() and "\x1b" not in message


def test_a_refused_dele_is_reported_and_the_session_goes_on():
    def dele(conn, arg, state):
        conn.sendline("-ERR message is locked")

    mailbox = Pop3Mailbox([HELLO], uidls=["u1"], overrides={"DELE": dele})
    with FakeServer(mailbox) as server:
        session = login(server)
        msg = session.list_messages()[0]
        with pytest.raises(ProtocolError, match="refused to delete message 1: message is locked"):
            session.delete(msg)
        assert fetch(session, msg) == b"Subject: hello\n\nhello\n"
        session.commit()


def test_duplicate_uidls_are_made_unique():
    uidls = ["a", "b", "a", "a", "a#dup2"]
    with FakeServer(Pop3Mailbox([HELLO] * 5, uidls=uidls)) as server:
        uids = [m.uid for m in login(server).list_messages()]
    assert uids[:4] == ["a", "b", "a#dup2", "a#dup3"]
    assert len(set(uids)) == 5


def test_illegal_uidls_are_replaced_by_a_hash():
    uidls = [b"ok", b"has space", b"x" * 71, b"\xff\xfe\x00", b"tab\there"]
    with FakeServer(Pop3Mailbox([HELLO] * 5, uidls=uidls)) as server:
        uids = [m.uid for m in login(server).list_messages()]
    assert uids[0] == "ok"
    for raw, uid in zip(uidls[1:], uids[1:], strict=True):
        assert uid == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_malformed_uidl_lines_do_not_crash_the_listing():
    def uidl(conn, arg, state):
        conn.send(b"+OK\r\n1 good\r\ngarbage line\r\n2\r\n99999999999 x\r\n.\r\n")

    mailbox = Pop3Mailbox([HELLO, WORLD], uidls=[], overrides={"UIDL": uidl})
    with FakeServer(mailbox) as server:
        msgs = login(server).list_messages()
    assert msgs[0].uid == "good"
    assert msgs[1].uid.startswith("sha256:")  # no usable UIDL: content hash


@pytest.mark.parametrize("top", [True, False])
def test_without_uidl_uids_are_content_hashes_stable_across_sessions(top):
    def refuse(conn, arg, state):
        conn.sendline("-ERR no TOP here")

    overrides = {} if top else {"TOP": refuse}
    mailbox = Pop3Mailbox([HELLO, WORLD, HELLO], capa=("USER",), overrides=overrides)
    with FakeServer(mailbox) as server:
        first = [m.uid for m in login(server).list_messages()]
        second = [m.uid for m in login(server).list_messages()]
        commands = server.commands()
    assert first == second
    assert all(uid.startswith("sha256:") for uid in first[:2])
    assert first[2] == first[0] + "#dup2"  # identical copies stay distinct
    assert first[0] != first[1]
    assert commands.count(b"TOP") == (6 if top else 2)  # TOP is not retried once refused
    assert commands.count(b"RETR") == (0 if top else 6)


def test_starttls_not_offered_never_sends_the_password():
    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"])) as server:
        with pytest.raises(TLSError, match="does not offer STLS"):
            login(server, security="starttls")
        assert server.commands() == [b"CAPA"]
        assert not any(b"secret" in line for line in server.received)


@pytest.fixture
def cert(tmp_path):
    return self_signed_cert(tmp_path)


def test_starttls_upgrades_before_login(cert):
    mailbox = Pop3Mailbox([HELLO], uidls=["u1"], stls_context=server_context(*cert))
    with FakeServer(mailbox) as server:
        session = login(server, security="starttls", ca_file=cert[0])
        assert fetch(session, session.list_messages()[0]) == b"Subject: hello\n\nhello\n"
        session.commit()
        assert server.commands()[:5] == [b"CAPA", b"STLS", b"CAPA", b"USER", b"PASS"]


def test_data_sent_along_with_the_stls_answer_is_refused(cert):
    context = server_context(*cert)

    def stls(conn, arg, state):
        conn.send(b"+OK begin TLS\r\n+OK logged in\r\n")  # CVE-2011-0411 style injection
        conn.starttls(context)

    mailbox = Pop3Mailbox([HELLO], stls_context=context, overrides={"STLS": stls})
    with FakeServer(mailbox) as server:
        with pytest.raises(TLSError, match="injection"):
            login(server, security="starttls", ca_file=cert[0])
        assert server.commands() == [b"CAPA", b"STLS"]


def test_implicit_tls_verifies_the_certificate(cert):
    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"]), tls_context=server_context(*cert)) as s:
        assert login(s, security="tls", ca_file=cert[0]).list_messages()[0].uid == "u1"
        assert login(s, security="tls", host="localhost", ca_file=cert[0]).list_messages()
        with pytest.raises(TLSError, match="TLS certificate of 127.0.0.1 is not trusted"):
            login(s, security="tls")
        assert login(s, security="tls", verify_tls=False).list_messages()[0].uid == "u1"


def test_a_certificate_for_another_name_is_not_trusted(tmp_path):
    cert = self_signed_cert(tmp_path, name="mail.example.org", ip=None)
    with FakeServer(Pop3Mailbox([]), tls_context=server_context(*cert)) as server:
        with pytest.raises(TLSError, match="of localhost is not trusted: Hostname mismatch"):
            login(server, security="tls", host="localhost", ca_file=cert[0])


def test_a_wrong_password_is_an_auth_error_without_the_password():
    with FakeServer(Pop3Mailbox([])) as server:
        with pytest.raises(AuthError) as info:
            login(server, password="hunter2-wrong")
    assert str(info.value) == "login refused by server: [AUTH] invalid user or password"

    def echo(conn, arg, state):
        conn.sendline(b"-ERR bad password " + arg)

    with FakeServer(Pop3Mailbox([], overrides={"PASS": echo})) as server:
        with pytest.raises(AuthError) as info:
            login(server, password="hunter2-wrong")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_a_password_with_quotes_backslashes_and_spaces_is_sent_verbatim():
    password = 'p a"s\\s \'w\\"d '
    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"], users={"bob smith": password})) as s:
        login(s, username="bob smith", password=password).commit()
        assert s.received[1:3] == [b"USER bob smith", b"PASS " + password.encode()]


def test_line_breaks_in_credentials_are_refused_before_sending():
    with FakeServer(Pop3Mailbox([])) as server:
        with pytest.raises(AuthError, match="line break") as info:
            login(server, password="x\r\nDELE 1")
        assert "DELE" not in str(info.value)
        assert server.commands() == [b"CAPA"]


APOP_GREETING = b"+OK POP3 ready <1896.697170952@dbc.mindspring.com>"


def test_apop_is_used_on_unencrypted_connections(cert):
    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"], greeting=APOP_GREETING)) as server:
        session = login(server)
        assert session.auth_method == "APOP"
        assert server.commands() == [b"CAPA", b"APOP"]
        assert not any(b"secret" in line for line in server.received)
    mailbox = Pop3Mailbox([HELLO], uidls=["u1"], greeting=APOP_GREETING)
    with FakeServer(mailbox, tls_context=server_context(*cert)) as server:
        assert login(server, security="tls", ca_file=cert[0]).auth_method == "USER"


def test_a_refused_apop_falls_back_to_user_pass():
    def refuse(conn, arg, state):
        conn.sendline("-ERR APOP not enabled")

    mailbox = Pop3Mailbox([HELLO], greeting=APOP_GREETING, overrides={"APOP": refuse})
    with FakeServer(mailbox) as server:
        assert login(server).auth_method == "USER"
        assert server.commands() == [b"CAPA", b"APOP", b"USER", b"PASS"]


def test_utf8_credentials_use_auth_plain():
    users = {"jürgen": "pässwörd ü"}
    mailbox = Pop3Mailbox([HELLO], uidls=["u1"], users=users, capa=("USER", "SASL PLAIN"))
    with FakeServer(mailbox) as server:
        session = login(server, username="jürgen", password="pässwörd ü")
        assert session.auth_method == "AUTH PLAIN"
        assert session.list_messages()[0].uid == "u1"
        assert b"PASS" not in server.commands()


def test_100000_messages_are_listed_with_one_uidl_and_one_list():
    count = 100_000
    mailbox = Pop3Mailbox([b"x\r\n"] * count, uidls=[f"uid{n:08d}" for n in range(count)])
    with FakeServer(mailbox) as server:
        session = login(server)
        msgs = session.list_messages()
        assert session.list_messages() == msgs
        assert len(msgs) == count and msgs[-1] == RemoteMessage("uid00099999", "100000", 3)
        assert server.commands().count(b"UIDL") == 1
        assert server.commands().count(b"LIST") == 1


def test_max_bytes_stops_the_download_and_closes_the_session():
    big = b"Subject: big\r\n\r\n" + b"0123456789\r\n" * 10_000
    with FakeServer(Pop3Mailbox([big], uidls=["u1"])) as server:
        session = login(server)
        out = io.BytesIO()
        with pytest.raises(MessageTooLarge, match="larger than the limit of 5000 bytes"):
            session.fetch(session.list_messages()[0], out, max_bytes=5000)
        assert len(out.getvalue()) <= 5000
        with pytest.raises(ProtocolError, match="not connected"):
            session.delete(RemoteMessage("u1", "1", 1))


@pytest.mark.parametrize("answer", [b"-ERR cannot update mailbox", None])
def test_commit_requires_a_confirmed_quit(answer):
    def quit_(conn, arg, state):
        if answer:
            conn.sendline(answer)
        return "hangup"

    with FakeServer(Pop3Mailbox([HELLO], uidls=["u1"], overrides={"QUIT": quit_})) as server:
        session = login(server)
        session.delete(session.list_messages()[0])
        with pytest.raises(ProtocolError, match="did not confirm QUIT; deletions may not"):
            session.commit()
        session.close()


def test_connect_errors_are_readable(monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    params = ConnectionParams("127.0.0.1", port, "none", "alice", "secret", timeout=5)
    with pytest.raises(ConnectError, match=f"connection refused by 127.0.0.1:{port}"):
        POP3Session(params).connect()

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(ConnectError, match="host not found: pop.nowhere.invalid"):
        POP3Session(replace(params, host="pop.nowhere.invalid")).connect()


def test_line_stream_reads_lines_and_exact_byte_counts():
    a, b = socket.socketpair()
    with a, b:
        stream = LineStream(b, timeout=2, max_line=16)
        a.sendall(b"one\r\ntwo\nxyz12345" + b"k" * 20)
        assert [stream.readline(), stream.readline()] == [b"one", b"two"]
        out = io.BytesIO()
        assert stream.copy_exact(3, out) == 3 and out.getvalue() == b"xyz"
        assert stream.read_exact(5) == b"12345"
        with pytest.raises(LimitExceeded, match="longer than 16 bytes"):
            stream.readline()
        assert stream.closed
    c, d = socket.socketpair()
    with c, d:
        stream = LineStream(d, timeout=2)
        c.sendall(b"last line without end")
        c.close()
        with pytest.raises(ConnectionClosed, match="connection closed by server"):
            stream.readline()
