"""The one invariant, through every misbehaving server: whatever the engine
deleted at the source is byte-for-byte in the local Maildir.

Each case is one fault (tests/misbehaving.py) on one message in the middle
of a mailbox, for POP3 (with and without PIPELINING) and IMAP, under the
keep policy "delete". The bad message must stay on the server, the run
history must say what happened to it, and the messages around it must be
fetched, stored and deleted as usual.
"""

import uuid

import pytest

from retrieval.models import GlobalSettings, RefusedMessage, Run
from tests.fakeserver import FakeServer
from tests.hostile import PROTOCOLS, account_on, delivered, lf, reason, run
from tests.misbehaving import (
    DROP,
    IMAP_FAULTS,
    PARTIAL,
    POP3_FAULTS,
    REFUSE,
    SHORT,
    WRONG_SIZE,
    MisbehavingImap,
    MisbehavingPop3,
    big_messages,
)

pytestmark = pytest.mark.django_db

# What the run history says of the bad message, per fault.
SAID = {
    SHORT: "arrived cut short",
    PARTIAL: "server sent only part of",
    WRONG_SIZE: "arrived cut short",
    REFUSE: "server refused to send",
    DROP: "",  # the words differ by protocol: checked by the message's name only
}
CASES = (
    [("pop3", fault) for fault in POP3_FAULTS]
    + [("pop3-pipelining", fault) for fault in POP3_FAULTS]
    + [("imap", fault) for fault in IMAP_FAULTS]
)


@pytest.fixture(autouse=True)
def short_timeouts():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0)


def server_for(kind: str, originals: list[bytes], fault: str):
    """The misbehaving server, and the uid our records give the bad (second) message."""
    if kind == "imap":
        return MisbehavingImap(originals, {2: fault}), "INBOX/7/2"
    capa = ("USER", "UIDL", "TOP") + (("PIPELINING",) if kind == "pop3-pipelining" else ())
    return MisbehavingPop3(originals, {"uid-2": fault}, capa=capa), "uid-2"


def remote(box) -> list[bytes]:
    if isinstance(box, MisbehavingImap):
        return [m["data"] for m in box.folders["INBOX"]]
    return list(box.messages)


@pytest.mark.parametrize(("kind", "fault"), CASES, ids=[f"{k}-{f}" for k, f in CASES])
def test_whatever_is_deleted_at_the_source_is_stored_whole(kind, fault):
    originals = big_messages(4, uuid.uuid4().hex[:8])
    box, bad_uid = server_for(kind, originals, fault)
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS[kind.split("-")[0]], server, keep_policy="delete")

        first = run(account)

        left = remote(box)
        stored = delivered(account)
        # The invariant: nothing gone from the server is missing locally, or partial.
        for original in originals:
            if original not in left:
                assert stored.count(lf(original)) == 1, "deleted but not stored whole"
        assert all(m in {lf(o) for o in originals} for m in stored), "a partial message"
        # The bad message stays; the ones around it were fetched and deleted.
        assert left == [originals[1]]
        assert sorted(stored) == sorted(lf(originals[i]) for i in (0, 2, 3))
        assert sum(box.asked.values()) >= 1  # the bad message was asked for
        # The run says what happened to it.
        assert first.status == Run.Status.PARTIAL, reason(first)
        assert (first.delivered, first.failed, first.deleted) == (3, 1, 3)
        words = reason(first)
        assert f"message {bad_uid}: not fetched, left on the server" in words, words
        assert SAID[fault] in words, words
        assert "failed attempt 1 of 3" in words, words
        assert RefusedMessage.objects.get(account=account).uid == bad_uid


def test_the_size_rule_knows_no_fault_in_an_honest_mailbox():
    """The same servers with no fault: everything arrives and goes, nothing is noted."""
    originals = big_messages(3, uuid.uuid4().hex[:8])
    for kind in ("pop3", "imap"):
        box, _ = server_for(kind, list(originals), None)
        with FakeServer(box) as server:
            account = account_on(PROTOCOLS[kind], server)
            done = run(account)
        assert done.status == Run.Status.OK, reason(done)
        assert sorted(delivered(account)) == sorted(map(lf, originals))
        assert remote(box) == [] and done.notes == []
