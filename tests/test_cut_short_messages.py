"""A message that arrives shorter than the server listed it is a failed fetch:
never stored as complete, never deleted (retrieval/protocols/sizes.py).

IMAP sizes are exact (a literal of another length than RFC822.SIZE, or a
partial BODY[]<n> nobody asked for, fails); POP3 sizes may differ by line
endings and counting, so only a gross shortfall fails, and real Dovecot
mail of every line-ending shape must never trip the rule.
"""

import io
import os
import re
import time
import uuid

import pytest

from retrieval.models import Run
from retrieval.protocols import sizes
from retrieval.protocols.base import FetchFailed
from retrieval.protocols.imap import IMAPSession
from retrieval.protocols.pop3 import POP3Session
from tests.factories import local_messages, make_account
from tests.fakeserver import FakeServer
from tests.hostile import PROTOCOLS, account_on, delivered, lf, reason, run
from tests.misbehaving import (
    KEPT,
    LISTED,
    PARTIAL,
    SHORT,
    WRONG_SIZE,
    MisbehavingImap,
    MisbehavingPop3,
    big_messages,
)

pytestmark = pytest.mark.django_db


def test_the_pop3_rule_tolerates_line_ending_counts_and_not_a_gross_shortfall():
    cut = sizes.pop3_cut_short
    # Dovecot counts CRLF as sent; servers storing LF may count one octet less per line.
    assert not cut(listed=5000, received=5000)
    assert not cut(listed=4900, received=5000)
    # Up to 4 KiB, or a tenth of the listed size, short: estimates (Exchange), headers
    # an mbox server counts but does not send.
    assert not cut(listed=10_000, received=10_000 - 4096)
    assert cut(listed=10_000, received=10_000 - 4097)
    assert not cut(listed=100_000, received=90_000)
    assert cut(listed=100_000, received=89_999)
    assert cut(listed=500_000, received=84)


def test_received_octets_are_counted_in_wire_form():
    out = io.BytesIO()
    counter = sizes.WireCounter(out)
    counter.write(b"a\nbc\n")
    counter.write(b"d")
    assert (counter.octets, out.getvalue()) == (len(b"a\r\nbc\r\nd"), b"a\nbc\nd")


def test_pop3_a_listed_size_far_above_what_arrives_fails_that_message_only():
    originals = big_messages(2, "x", octets=2000)
    box = MisbehavingPop3(originals, {"uid-1": WRONG_SIZE})
    with FakeServer(box) as server:
        session = POP3Session(server.params())
        session.connect()
        first, second = session.list_messages()
        assert first.size == LISTED

        with pytest.raises(FetchFailed, match=(
                rf"^message 1 arrived cut short: {len(originals[0])} octets received, "
                rf"the server listed {LISTED}$")) as info:
            session.fetch(first, io.BytesIO())
        assert info.value.connected  # the answer was whole: the session goes on
        out = io.BytesIO()
        session.fetch(second, out)
        session.close()
    assert out.getvalue() == lf(originals[1])


def test_pop3_the_engine_never_deletes_a_message_that_arrived_cut_short():
    # LIST says 500,000 octets, RETR sends 84 and a proper ".".
    originals = big_messages(1, uuid.uuid4().hex[:8], octets=500_000)
    box = MisbehavingPop3(originals, {"uid-1": SHORT})
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server, keep_policy="delete")

        done = run(account)

    assert box.messages == originals
    assert b"DELE 1" not in server.received
    assert delivered(account) == []
    assert done.status == Run.Status.PARTIAL
    assert f"message uid-1: not fetched, left on the server: message 1 arrived cut short: " \
           f"{KEPT + 2} octets received, the server listed {len(originals[0])}" in reason(done)


@pytest.mark.parametrize(("fault", "words"), [
    (SHORT, "arrived cut short or altered: the server sent 84 octets and listed"),
    (PARTIAL, "server sent only part of message 1 in folder 'INBOX' (BODY[]<0>, which was "
              "not asked for)"),
    (WRONG_SIZE, f"arrived cut short or altered: the server sent 2000 octets and listed {LISTED}"),
])
def test_imap_a_body_of_another_size_than_listed_fails_that_message_only(fault, words):
    originals = big_messages(2, "x", octets=2000)
    originals[0] = originals[0][:2000]
    box = MisbehavingImap(originals, {1: fault})
    with FakeServer(box) as server:
        session = IMAPSession(server.params())
        session.connect()
        first, second = session.list_messages()
        session.prefetch([first, second])

        with pytest.raises(FetchFailed, match=re.escape(words)) as info:
            session.fetch(first, io.BytesIO())
        assert info.value.connected
        out = io.BytesIO()
        session.fetch(second, out)
        session.close()
    assert out.getvalue() == lf(originals[1])


def _store_raw(dovecot, username: str, message: bytes) -> None:
    """Into the Dovecot Maildir byte for byte (Dovecot.deliver would make it LF)."""
    target = dovecot._ensure_maildir(username, "INBOX")
    name = f"{time.time():.6f}.P{os.getpid()}Q{uuid.uuid4().hex}.popadmin-test"
    tmp = target / "tmp" / name
    tmp.write_bytes(message)
    os.chown(tmp, dovecot.uid, dovecot.gid)
    os.rename(tmp, target / "new" / name)


SHAPES = {
    "lf": b"From: a@example.test\nSubject: lf\n\nline one\nline two\n",
    "crlf": b"From: a@example.test\r\nSubject: crlf\r\n\r\nline one\r\nline two\r\n",
    "mixed": b"From: a@example.test\r\nSubject: mixed\n\r\nline one\nline two\r\n",
    "no final newline": b"From: a@example.test\nSubject: open end\n\nno newline at the end",
    "dots": b"From: a@example.test\nSubject: dots\n\n.\n..\n.leading\nend\n",
    "lone cr": b"From: a@example.test\nSubject: cr\n\nbefore\rafter\n",
    "empty body": b"From: a@example.test\nSubject: empty\n\n",
    "big lf": b"From: a@example.test\nSubject: big\n\n" + (b"y" * 998 + b"\n") * 300,
    "many short lines": b"From: a@example.test\nSubject: short lines\n\n" + b"a\n" * 20_000,
}


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_real_dovecot_mail_of_every_line_ending_shape_passes_the_size_rule(
        dovecot, mail_user, protocol):
    for shape in SHAPES.values():
        _store_raw(dovecot, mail_user[0], shape)
    account = make_account(dovecot, *mail_user, protocol=protocol, keep_policy="delete")

    done = run(account)

    assert done.status == Run.Status.OK, reason(done)
    assert done.notes == [] and done.delivered == len(SHAPES)
    assert dovecot.messages(mail_user[0]) == []
    assert len(local_messages(account.owner)) == len(SHAPES)


def test_a_listed_size_counted_in_lf_octets_passes_the_pop3_rule():
    # A server that stores LF and lists that count: fewer octets than are sent.
    originals = big_messages(2, uuid.uuid4().hex[:8], octets=20_000)
    box = MisbehavingPop3(originals, {})

    def lf_list(conn, arg, state):
        body = b"".join(b"%d %d\r\n" % (n, len(lf(box.messages[n - 1])))
                        for n in box.live(state))
        conn.send(b"+OK\r\n" + body + b".\r\n")

    box.overrides["LIST"] = lf_list
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server)
        done = run(account)

    assert done.status == Run.Status.OK and done.notes == [], reason(done)
    assert sorted(delivered(account)) == sorted(map(lf, originals))
