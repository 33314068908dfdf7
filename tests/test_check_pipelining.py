"""A cheap check sends its conversation in one write where the server takes it
(retrieval/protocols/check_pipelining.py): POP3 when CAPA announces PIPELINING
(asked once per server), IMAP always, unless the server broke down on it."""

import asyncio

import pytest

from popadmin.net import tls_sessions
from retrieval.protocols import check_pipelining, quick_check
from retrieval.protocols.base import ConnectionParams
from tests.fakeserver import FakeServer, ImapMailbox, Pop3Mailbox


@pytest.fixture(autouse=True)
def fresh_memory():
    check_pipelining.forget_all()
    tls_sessions.forget_all()
    yield
    check_pipelining.forget_all()


@pytest.fixture
def writes(monkeypatch):
    """Every write a check makes on its connection, in order."""
    seen: list[bytes] = []
    real = asyncio.StreamWriter.write

    def write(self, data):
        seen.append(bytes(data))
        return real(self, data)

    monkeypatch.setattr(asyncio.StreamWriter, "write", write)
    return seen


def dovecot_params(dovecot, user, protocol, **overrides):
    port = dovecot.pop3s_port if protocol == "pop3" else dovecot.imaps_port
    values = dict(host=dovecot.host, port=port, security="tls", username=user[0],
                  password=user[1], ca_file=str(dovecot.ca_file), timeout=10.0)
    values.update(overrides)
    return ConnectionParams(**values)


def check(protocol, params, targets=None):
    return asyncio.run(quick_check.check(protocol, params, targets or [params.host]))


def test_pop3_asks_capa_once_then_sends_everything_in_one_write(dovecot, writes):
    first, second = dovecot.add_user(), dovecot.add_user()
    dovecot.deliver_many(second[0], 2)

    assert check("pop3", dovecot_params(dovecot, first, "pop3")).answered
    assert writes[0] == b"CAPA\r\n"
    writes.clear()
    found = check("pop3", dovecot_params(dovecot, second, "pop3"))

    assert len(writes) == 1
    assert [line.split(b" ")[0] for line in writes[0].splitlines()] == [
        b"USER", b"PASS", b"STAT", b"UIDL", b"QUIT"]
    assert found.answered and found.count == 2 and len(found.uids) == 2


def test_pop3_empty_mailbox_lists_nothing(dovecot):
    user = dovecot.add_user()
    check("pop3", dovecot_params(dovecot, user, "pop3"))

    found = check("pop3", dovecot_params(dovecot, user, "pop3"))

    assert found.answered and found.count == 0 and found.uids is None


def test_pop3_pipelined_wrong_password_is_an_error_and_keeps_pipelining(dovecot):
    user = dovecot.add_user()
    check("pop3", dovecot_params(dovecot, user, "pop3"))

    found = check("pop3", dovecot_params(dovecot, (user[0], "wrong"), "pop3"))

    assert found.error == "PASS refused"
    server = check_pipelining.key("pop3", dovecot.host, dovecot.pop3s_port, "tls")
    assert check_pipelining.pop3_known(server) is True


def test_imap_signs_in_asks_and_logs_out_in_one_write(dovecot, writes):
    user = dovecot.add_user()
    dovecot.deliver_many(user[0], 3)

    found = check("imap", dovecot_params(dovecot, user, "imap"))

    assert len(writes) == 1
    verbs = [line.split(b" ")[1] for line in writes[0].splitlines()]
    assert verbs[0] in (b"LOGIN", b"AUTHENTICATE") and verbs[1:] == [b"STATUS", b"LOGOUT"]
    assert found.answered and found.folders["INBOX"][1:] == (4, 3)


def test_imap_pipelined_wrong_password_is_an_error(dovecot):
    user = dovecot.add_user()

    found = check("imap", dovecot_params(dovecot, (user[0], "wrong"), "imap"))

    assert found.error in ("LOGIN refused", "AUTHENTICATE refused")
    assert check_pipelining.imap_pipelines(
        check_pipelining.key("imap", dovecot.host, dovecot.imaps_port, "tls"))


def test_pop3_server_without_pipelining_is_asked_one_command_at_a_time():
    # Dovecot always announces PIPELINING; this server does not.
    mailbox = Pop3Mailbox([b"Subject: a\r\n\r\nx\r\n"], uidls=["u1"])
    with FakeServer(mailbox) as server:
        first = check("pop3", server.params())
        second = check("pop3", server.params())

    assert first.uids == second.uids == ["u1"]
    assert server.commands() == [b"CAPA", b"USER", b"PASS", b"STAT", b"UIDL", b"QUIT",
                                  b"USER", b"PASS", b"STAT", b"UIDL", b"QUIT"]


def test_imap_server_that_drops_pipelined_commands_is_then_asked_in_turn():
    # A fault Dovecot does not have: input sent before the sign-in's answer is lost.
    def login(conn, tag, args, state):
        conn.buf = b""
        mailbox.login(conn, tag, True)

    mailbox = ImapMailbox(capabilities=("IMAP4rev1",), overrides={"LOGIN": login})
    with FakeServer(mailbox) as server:
        broken = check("imap", server.params(timeout=1.0))
        found = check("imap", server.params(timeout=1.0))

    assert broken.error  # handed to the fetch, like any failed check
    assert found.answered and "INBOX" in found.folders
    assert not check_pipelining.imap_pipelines(
        check_pipelining.key("imap", "127.0.0.1", server.port, "none"))


def test_pop3_capability_names_are_read_in_any_case(writes):
    mailbox = Pop3Mailbox([], uidls=[], capa=("USER", "UIDL", "Pipelining"))
    with FakeServer(mailbox) as server:
        check("pop3", server.params())
        writes.clear()
        found = check("pop3", server.params())

    assert found.answered and found.count == 0 and found.uids is None
    assert len(writes) == 1
    assert server.commands()[-5:] == [b"USER", b"PASS", b"STAT", b"UIDL", b"QUIT"]
