"""IMAP fetches sent ahead (retrieval/protocols/imap_batch.py): many messages
per UID FETCH, each body streamed to its own file, and every guard of one
command per message still holding (size limit, early end, odd servers)."""

import io
import re
import tempfile
import tracemalloc

import pytest

from popadmin.net.errors import MessageTooLarge, ProtocolError
from retrieval import engine
from retrieval.models import GlobalSettings, Run
from retrieval.protocols import imap_batch
from tests.factories import local_messages, make_account
from tests.fakeserver import FakeServer
from tests.hostile import PROTOCOLS, delivered, lf, make_messages, reason, run
from tests.hostile import account_on as _account_on
from tests.test_imap_client import fetch, flags, login

IMAP = PROTOCOLS["imap"]


def recording(session) -> list[bytes]:
    """Every command line the session sends from now on."""
    sent, send = [], session._stream.send

    def record(data: bytes) -> None:
        sent.extend(line for line in data.split(b"\r\n") if line)
        send(data)

    session._stream.send = record
    return sent


def body_fetches(sent: list[bytes]) -> list[bytes]:
    return [re.sub(rb"^\S+ ", b"", line) for line in sent if b"BODY.PEEK[]" in line]


def test_it_asks_for_many_messages_in_one_command(dovecot, mail_user):
    originals = [p.read_bytes() for p in dovecot.deliver_many(mail_user[0], 40, size=1500)]
    session = login(dovecot, mail_user)
    listing = session.list_messages()
    sent = recording(session)
    session.prefetch(listing)

    got = [fetch(session, msg) for msg in listing]

    assert got == originals
    assert body_fetches(sent) == [b"UID FETCH 1:40 (BODY.PEEK[])"]
    session.commit()
    assert flags(dovecot, mail_user) == [b""] * 40  # BODY.PEEK: nothing marked read


def test_it_sends_the_next_command_before_reading_the_last_batch(dovecot, mail_user, monkeypatch):
    monkeypatch.setattr(imap_batch, "BATCH_MESSAGES", 4)
    originals = [p.read_bytes() for p in dovecot.deliver_many(mail_user[0], 10, size=800)]
    session = login(dovecot, mail_user)
    listing = session.list_messages()
    sent = recording(session)
    session.prefetch(listing)

    fetch(session, listing[0])
    # Two commands in flight at once: the server never waits for us.
    assert body_fetches(sent) == [b"UID FETCH 1:4 (BODY.PEEK[])", b"UID FETCH 5:8 (BODY.PEEK[])"]
    got = [fetch(session, msg) for msg in listing[1:]]

    assert got == originals[1:]
    assert body_fetches(sent)[2:] == [b"UID FETCH 9:10 (BODY.PEEK[])"]
    session.close()


def test_a_message_listed_bigger_than_a_batch_goes_alone(dovecot, mail_user, monkeypatch):
    monkeypatch.setattr(imap_batch, "BATCH_BYTES", 3000)
    user = mail_user[0]
    dovecot.deliver_many(user, 3, size=500)
    dovecot.deliver_many(user, 1, size=20_000)
    dovecot.deliver_many(user, 2, size=500)
    session = login(dovecot, mail_user)
    listing = session.list_messages()
    sent = recording(session)
    session.prefetch(listing)

    assert [len(fetch(session, msg)) for msg in listing] == [500] * 3 + [20_000] + [500] * 2

    # So that what an early end reads into nothing stays small.
    assert body_fetches(sent) == [
        b"UID FETCH 1:3 (BODY.PEEK[])", b"UID FETCH 4 (BODY.PEEK[])", b"UID FETCH 5:6 (BODY.PEEK[])"
    ]
    session.close()


def test_it_streams_each_body_without_holding_it(dovecot, mail_user, monkeypatch):
    monkeypatch.setattr(imap_batch, "BATCH_BYTES", 64 * 1024 * 1024)
    size = 1024 * 1024
    dovecot.deliver_many(mail_user[0], 4, size=size)
    session = login(dovecot, mail_user)
    listing = session.list_messages()
    sent = recording(session)
    session.prefetch(listing)
    tracemalloc.start()
    try:
        for msg in listing:
            with tempfile.TemporaryFile() as out:
                assert session.fetch(msg, out) == out.tell() >= size
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert body_fetches(sent) == [b"UID FETCH 1:4 (BODY.PEEK[])"]  # 4 MB in one answer
    assert peak < size / 2
    session.close()


def test_a_message_over_the_limit_mid_batch_is_left_and_the_rest_comes_next_time(
    dovecot, mail_user
):
    user = mail_user[0]
    dovecot.deliver_many(user, 2, size=1000)
    dovecot.deliver(user, b"Subject: big\n\n" + b"0123456789\n" * 5000)
    dovecot.deliver_many(user, 2, size=1000)
    session = login(dovecot, mail_user)
    listing = session.list_messages()
    sent = recording(session)
    session.prefetch(listing)
    assert len(fetch(session, listing[0], max_bytes=10_000)) > 900
    assert len(fetch(session, listing[1], max_bytes=10_000)) > 900

    too_large = "message 3 in folder 'INBOX' is 60016 bytes, larger than the limit"
    with pytest.raises(MessageTooLarge, match=too_large):
        session.fetch(listing[2], io.BytesIO(), 10_000)

    # The stream was mid-batch: the connection is gone with the rest of it.
    assert body_fetches(sent) == [b"UID FETCH 1:5 (BODY.PEEK[])"]
    with pytest.raises(ProtocolError, match="not connected"):
        session.fetch(listing[3], io.BytesIO(), 10_000)
    again = login(dovecot, mail_user)
    assert [m.uid for m in again.list_messages()] == [m.uid for m in listing]
    again.prefetch(listing[3:])
    assert [len(fetch(again, m, 10_000)) > 900 for m in listing[3:]] == [True, True]
    again.commit()
    assert flags(dovecot, mail_user) == [b""] * 5


def test_messages_sent_ahead_but_not_taken_stay_on_the_server_unmarked(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 10, size=1000)
    session = login(dovecot, mail_user)
    listing = session.list_messages()
    sent = recording(session)
    session.prefetch(listing)
    for msg in listing[:3]:
        fetch(session, msg)
        session.delete(msg)

    session.commit()  # reads the 7 bodies still owed into nothing, then deletes 3

    assert body_fetches(sent) == [b"UID FETCH 1:10 (BODY.PEEK[])"]
    assert [line.split(b" ", 1)[1] for line in sent if b"UID STORE" in line or b"EXPUNGE" in line] \
        == [b"UID STORE 1:3 +FLAGS.SILENT (\\Deleted)", b"UID EXPUNGE 1:3"]
    assert len(dovecot.messages(mail_user[0])) == 7
    assert flags(dovecot, mail_user) == [b""] * 7


@pytest.mark.django_db
def test_a_stopped_service_leaves_the_batch_rest_unread_on_the_server(
    dovecot, mail_user, monkeypatch
):
    dovecot.deliver_many(mail_user[0], 10, size=1000)
    account = make_account(dovecot, *mail_user, protocol="imap")
    take, taken, batches = engine.Retrieval.take, [], []
    monkeypatch.setattr(engine, "SWITCH_CHECK_SECONDS", 0)
    send = imap_batch.IMAPBatch._send

    def send_recorded(self, folder, uidvalidity, uids):
        batches.append(list(uids))
        return send(self, folder, uidvalidity, uids)

    def take_then_stop(self, session, msg):
        take(self, session, msg)
        taken.append(msg.uid)
        if len(taken) == 2:
            GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
                service_running=False)

    monkeypatch.setattr(imap_batch.IMAPBatch, "_send", send_recorded)
    monkeypatch.setattr(engine.Retrieval, "take", take_then_stop)
    result = engine.run_account(account.pk, Run.Trigger.SCHEDULE)

    assert result.status == Run.Status.OK, result.error
    assert batches == [list(range(1, 11))]  # all ten were asked for at once
    assert (result.delivered, result.deleted) == (2, 2)
    assert len(local_messages(account.owner)) == 2
    assert len(dovecot.messages(mail_user[0])) == 8
    assert flags(dovecot, mail_user) == [b""] * 8


# -- servers Dovecot does not imitate (the fake server) ----------------------


def reversed_fetch(box, uid_after_body: bool):
    """UID FETCH answered last message first, as RFC 3501 allows."""

    def fetch_(conn, tag, args, state):
        if b"BODY" not in args[1].upper():
            return box.cmd_UID_FETCH(conn, tag, args, state)
        for seq, m in reversed(box.matching(state, args[0])):
            data = m["data"]
            if uid_after_body:
                head = b"* %d FETCH (BODY[] {%d}\r\n" % (seq, len(data))
                conn.send(head + data + b" UID %d)\r\n" % m["uid"])
            else:
                head = b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (seq, m["uid"], len(data))
                conn.send(head + data + b")\r\n")
        box.ok(conn, tag)

    box.overrides["UID FETCH"] = fetch_


@pytest.mark.parametrize("uid_after_body", [False, True], ids=["uid first", "uid after"])
def test_a_server_answering_out_of_order_still_gives_each_message_its_body(uid_after_body):
    originals = make_messages(3)
    box = IMAP.box(originals)
    reversed_fetch(box, uid_after_body)
    with FakeServer(box) as server:
        session = IMAP.session(server.params())
        session.connect()
        listing = session.list_messages()
        sent = recording(session)
        session.prefetch(listing)

        got = [fetch(session, msg) for msg in listing]

        assert got == [lf(m) for m in originals]
        # 2 and 3 came before 1 and were read into nothing: each asked for again, alone.
        assert body_fetches(sent) == [
            b"UID FETCH 1:3 (BODY.PEEK[])", b"UID FETCH 2 (BODY.PEEK[])",
            b"UID FETCH 3 (BODY.PEEK[])",
        ]
        session.close()


@pytest.mark.django_db
def test_an_understated_size_mid_batch_skips_that_message_and_takes_the_rest():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0)
    originals = make_messages(5)
    originals[2] = originals[2] + b"x" * (2 * 1024 * 1024) + b"\r\n"
    box = IMAP.box(originals)

    def listing(conn, tag, args, state):  # the big one listed as 10 bytes
        for seq, m in enumerate(box.folders["INBOX"], 1):
            size = 10 if m["uid"] == 3 else len(m["data"])
            conn.sendline(b"* %d FETCH (UID %d RFC822.SIZE %d)" % (seq, m["uid"], size))
        box.ok(conn, tag)

    def fetch_(conn, tag, args, state):
        if b"BODY" in args[1].upper():
            return box.cmd_UID_FETCH(conn, tag, args, state)
        return listing(conn, tag, args, state)

    box.overrides["UID FETCH"] = fetch_
    with FakeServer(box) as server:
        account = _account_on(IMAP, server, max_message_mb=1)

        first = run(account)

        assert "message INBOX/7/3: over the size limit while downloading" in reason(first)
        assert sorted(delivered(account)) == sorted(lf(m) for i, m in enumerate(originals)
                                                    if i != 2)
        assert box.folders["INBOX"][0]["data"] == originals[2]
        assert len(box.folders["INBOX"]) == 1
