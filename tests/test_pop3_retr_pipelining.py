"""POP3 PIPELINING (RFC 2449) for RETR: the next messages are asked for ahead,
and every guard of the lockstep client still holds (size limit, refused DELE,
an early stop)."""

import time

import pytest

from retrieval import group_commit
from retrieval.models import GlobalSettings
from retrieval.protocols.pop3 import RETR_WINDOW
from retrieval.protocols.pop3_pipeline import RETR_REFILL
from tests.factories import local_messages, make_account
from tests.fakeserver import FakeServer
from tests.hostile import PROTOCOLS, delivered, lf, make_messages, reason, run
from tests.hostile import account_on as _account_on
from tests.test_pop3_hostile import endless

pytestmark = pytest.mark.django_db

POP3 = PROTOCOLS["pop3"]
PIPELINING = ("USER", "UIDL", "TOP", "PIPELINING")


@pytest.fixture(autouse=True)
def short_timeouts():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0
    )


def retrs(server) -> list[bytes]:
    return [line for line in server.received if line.startswith(b"RETR")]


def test_it_asks_for_the_next_messages_before_reading_the_first():
    box = POP3.box(make_messages(RETR_WINDOW + 4), capa=PIPELINING)
    with FakeServer(box) as server:
        session = POP3.session(server.params())
        session.connect()
        listing = session.list_messages()
        session.prefetch(listing)
        out = bytearray()
        session.fetch(listing[0], _Sink(out))

        deadline = time.monotonic() + 5
        while len(retrs(server)) < RETR_WINDOW and time.monotonic() < deadline:
            time.sleep(0.01)
        # RETR 1 and the ones after it, RETR_WINDOW in all, went out before 1 was read.
        assert retrs(server) == [b"RETR %d" % n for n in range(1, RETR_WINDOW + 1)]
        assert bytes(out) == lf(box.messages[0])
        session.commit()  # reads (and discards) the bodies still on their way


def test_it_tops_the_window_up_in_one_write_once_it_is_half_empty():
    box = POP3.box(make_messages(RETR_WINDOW * 2), capa=PIPELINING)
    with FakeServer(box) as server:
        session = POP3.session(server.params())
        session.connect()
        listing = session.list_messages()
        session.prefetch(listing)
        taken = RETR_WINDOW - RETR_REFILL  # messages read before the top-up is due
        for msg in listing[:taken]:
            session.fetch(msg, _Sink(bytearray()))
        time.sleep(0.2)
        assert len(retrs(server)) == RETR_WINDOW  # nothing more asked for one by one

        session.fetch(listing[taken], _Sink(bytearray()))

        deadline = time.monotonic() + 5
        while len(retrs(server)) < taken + RETR_WINDOW and time.monotonic() < deadline:
            time.sleep(0.01)
        assert retrs(server) == [b"RETR %d" % n for n in range(1, taken + RETR_WINDOW + 1)]
        session.commit()


def test_it_stays_in_lockstep_without_pipelining():
    box = POP3.box(make_messages(4))
    with FakeServer(box) as server:
        session = POP3.session(server.params())
        session.connect()
        listing = session.list_messages()
        session.prefetch(listing)
        session.fetch(listing[0], _Sink(bytearray()))
        session.commit()
        assert retrs(server) == [b"RETR 1"]


def test_it_cuts_off_an_overlong_message_with_retrs_in_flight():
    originals = make_messages(RETR_WINDOW + 3)
    box = POP3.box(originals, capa=PIPELINING)
    box.overrides["RETR"] = lambda conn, arg, state: (
        endless(conn, arg, state) if arg == b"2" else box.cmd_RETR(conn, arg, state)
    )
    with FakeServer(box) as server:
        account = _account_on(POP3, server, max_message_mb=1)

        first = run(account)

        # The connection is dropped mid-message, the RETRs behind it with it;
        # the next pass (a new connection) takes the rest.
        assert "message uid-2: over the size limit while downloading" in reason(first)
        rest = [lf(m) for i, m in enumerate(originals) if i != 1]
        assert sorted(delivered(account)) == sorted(rest)
        assert box.messages == [originals[1]]


def test_it_reads_dele_answers_queued_behind_retrs(dovecot, mail_user, monkeypatch):
    # Small groups: each group's DELEs go out while RETRs are in flight.
    monkeypatch.setattr(group_commit, "GROUP_MESSAGES", 7)
    dovecot.deliver_many(mail_user[0], 60, size=500)
    account = make_account(dovecot, *mail_user)

    result = run(account)

    assert (result.fetched, result.delivered, result.deleted) == (60, 60, 60), reason(result)
    assert len(local_messages(account.owner)) == 60
    assert dovecot.messages(mail_user[0]) == []


def test_it_reports_a_refused_dele_queued_behind_retrs(monkeypatch):
    monkeypatch.setattr(group_commit, "GROUP_MESSAGES", 2)
    originals = make_messages(6)
    box = POP3.box(originals, capa=PIPELINING)
    box.overrides["DELE"] = lambda conn, arg, state: conn.sendline(b"-ERR mailbox is read-only")
    with FakeServer(box) as server:
        account = _account_on(POP3, server)

        first = run(account)

        assert "server refused to delete message 1: mailbox is read-only" in reason(first)
        assert box.messages == originals  # nothing deleted without QUIT
        got = delivered(account)
        box.overrides.clear()
        again = run(account)
        # What was delivered before the refusal is recorded: only deleted now, the
        # rest fetched once.
        assert again.deleted == len(originals) and again.delivered == len(originals) - len(got)
        assert sorted(delivered(account)) == sorted(map(lf, originals))
        assert box.messages == []


class _Sink:
    def __init__(self, buf: bytearray):
        self.buf = buf

    def write(self, data) -> int:
        self.buf += data
        return len(data)
