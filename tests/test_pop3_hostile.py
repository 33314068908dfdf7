"""Hostile and broken POP3 servers, seen through the engine: faults only
POP3 can have (its deletions, its UIDLs, its framing). Faults both protocols
share are in test_hostile_server_contract.py.

Failing cases check, through fail_then_heal (tests/hostile.py), that the Run
ends with a reason a person can read, nothing is lost, and a later healthy
run delivers the rest exactly once. Servers that are odd but not broken
(duplicate or illegal UIDLs, none at all) must simply work.
"""

import time

import pytest
from django.db import connection

from retrieval.models import GlobalSettings, RemoteAccount, Run, SeenMessage
from retrieval.tasks import fetch_account
from tests.factories import local_messages, make_account
from tests.fakeserver import FakeServer, Pop3Mailbox, stuff
from tests.hostile import PROTOCOLS, delivered, lf, make_messages, reason, run
from tests.hostile import account_on as _account_on
from tests.hostile import fail_then_heal as _fail_then_heal
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = pytest.mark.django_db

POP3 = PROTOCOLS["pop3"]


@pytest.fixture(autouse=True)
def short_timeouts():
    # Small enough that a stalling server costs a test seconds, not minutes.
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0
    )


def healthy_box(messages: list[bytes], **kwargs) -> Pop3Mailbox:
    return POP3.box(messages, **kwargs)


def account_on(server: FakeServer, **fields) -> RemoteAccount:
    return _account_on(POP3, server, **fields)


def fail_then_heal(box: Pop3Mailbox, *words: str, **fields):
    return _fail_then_heal(POP3, box, *words, **fields)


# -- endless messages ----------------------------------------------------------


def drip(data: bytes):
    """Send one byte per second until the client gives up or the test ends."""

    def send(conn):
        for i in range(len(data)):
            conn.send(data[i : i + 1])
            if not conn.sleep(1):
                return "hangup"

    return send


def endless(conn, arg, state):
    """A multi-line answer at full speed with no final "." ever."""
    conn.send(b"+OK\r\n")
    chunk = b"1 endless-line-of-a-listing-that-never-ends\r\n" * 2000
    while not conn.server.stopping.is_set():
        conn.send(chunk)  # raises once the client hangs up, ending the thread


def test_it_cuts_off_an_endless_message_at_the_size_limit():
    originals = make_messages(3)
    box = healthy_box(originals)
    box.overrides["RETR"] = lambda conn, arg, state: (
        endless(conn, arg, state) if arg == b"1" else box.cmd_RETR(conn, arg, state)
    )
    with FakeServer(box) as server:
        account = account_on(server, max_message_mb=1)

        first = run(account)

        # Over the account's limit is a documented skip, not a failure: the
        # run goes on with the other messages and names the one left behind.
        assert "message uid-1: over the size limit while downloading" in reason(first)
        assert sorted(delivered(account)) == sorted(map(lf, originals[1:]))
        assert box.messages == originals[:1]
        box.overrides.clear()
        assert run(account).delivered == 1
        assert sorted(delivered(account)) == sorted(map(lf, originals))


# -- broken sessions -------------------------------------------------------------


def test_it_keeps_a_message_whose_dele_is_refused_and_deletes_it_later():
    originals = make_messages(3)
    box = healthy_box(originals)
    box.overrides["DELE"] = lambda conn, arg, state: conn.sendline(
        b"-ERR [SYS/PERM] mailbox is read-only"
    )

    result = fail_then_heal(
        box, "server refused to delete message 1: [SYS/PERM] mailbox is read-only"
    )

    # Deletions follow a group's commit (retrieval/group_commit.py): all three
    # are delivered and recorded before the refusal, so the next run only deletes.
    # Maildir file names do not keep the delivery order.
    assert sorted(result.local) == sorted(lf(m) for m in originals)
    assert result.remote == originals
    assert (result.again.fetched, result.again.delivered, result.again.deleted) == (0, 0, 3)


@pytest.mark.parametrize("answer", [b"-ERR [SYS/TEMP] cannot update mailbox", None])
def test_it_reports_a_rejected_quit_and_deletes_next_time(answer):
    originals = make_messages(3)
    box = healthy_box(originals)

    def quit_(conn, arg, state):
        conn.sendline(answer) if answer else conn.sleep(60)
        return "hangup"  # either way the deletions are not applied

    box.overrides["QUIT"] = quit_

    result = fail_then_heal(
        box, "server did not confirm QUIT; deletions may not have been applied"
    )

    assert sorted(result.local) == sorted(map(lf, originals)) and result.remote == originals
    assert (result.again.fetched, result.again.deleted) == (0, 3)


# -- identities a server gets wrong ----------------------------------------------


def kept_twice(box: Pop3Mailbox, server: FakeServer, retr_once=True):
    """Two runs that leave mail on the server: all of it once, then nothing again."""
    account = account_on(server, keep_policy=RemoteAccount.Keep.KEEP)
    first, second = run(account), run(account)
    assert first.status == second.status == Run.Status.OK, reason(first) + reason(second)
    assert sorted(delivered(account)) == sorted(map(lf, box.messages))
    assert (first.fetched, second.fetched, second.delivered) == (len(box.messages), 0, 0)
    if retr_once:  # on the wire too (without TOP, hashing a message takes a RETR)
        assert server.commands().count(b"RETR") == len(box.messages)
    uids = list(SeenMessage.objects.filter(account=account).values_list("uid", flat=True))
    assert len(set(uids)) == len(box.messages)
    return account, uids


def test_it_tells_apart_messages_with_duplicate_uidls():
    box = healthy_box(make_messages(4), uidls=["same", "same", "other", "same"])
    with FakeServer(box) as server:
        _, uids = kept_twice(box, server)

    assert set(uids) == {"same", "same#dup2", "other", "same#dup3"}


def test_it_hashes_uidls_with_illegal_characters():
    illegal = [b"has space", b"ctl\x01\x7f", b"nul\x00byte", b"x" * 71, "grüße".encode(), b""]
    box = healthy_box(make_messages(len(illegal) + 1), uidls=[*illegal, b"fine-7"])
    with FakeServer(box) as server:
        _, uids = kept_twice(box, server)

    # Stored uids are printable ASCII whatever the server sent (PostgreSQL refuses NUL).
    assert all(u.isascii() and u.isprintable() and " " not in u for u in uids), uids


@pytest.mark.parametrize("top", ["TOP works", "TOP refused"])
def test_it_identifies_messages_by_content_without_uidl(top):
    box = Pop3Mailbox(make_messages(3), uidls=None)
    if top == "TOP refused":
        box.overrides["TOP"] = lambda conn, arg, state: conn.sendline(b"-ERR no TOP here")
    with FakeServer(box) as server:
        account, uids = kept_twice(box, server, retr_once=top == "TOP works")
        assert all(u.startswith("sha256:") for u in uids)

        # Deleting works the same on content identities, and fetches nothing again.
        RemoteAccount.objects.filter(pk=account.pk).update(keep_policy=RemoteAccount.Keep.DELETE)
        third = run(account)

    assert (third.fetched, third.deleted, box.messages) == (0, 3, [])


def test_it_drops_a_copy_without_message_id_by_content():
    no_id = b"From: a@example.test\r\nSubject: no id\r\n\r\nsame body\r\n"
    other = b"From: a@example.test\r\nSubject: no id either\r\n\r\nother body\r\n"
    box = healthy_box([no_id, no_id, other])
    with FakeServer(box) as server:
        account = account_on(server)

        first = run(account)

        assert first.status == Run.Status.OK, reason(first)
        assert (first.delivered, first.duplicates, first.deleted) == (2, 1, 3)
        # The server hands out another copy under a new UIDL: still a duplicate.
        box.messages.append(no_id)
        box.uidls.append("late-copy")
        second = run(account)
        assert (second.delivered, second.duplicates, second.deleted) == (0, 1, 1)
        assert sorted(delivered(account)) == sorted([lf(no_id), lf(other)])


def test_it_delivers_bare_lf_8_bit_and_nul_bytes_exactly():
    bare_lf = (
        b"From: a@example.test\nMessage-ID: <lf@hostile.test>\nSubject: bare LF\n\n"
        b"line one\n.leading dot\n..two dots\n.\nlast\n"
    )
    binary = (
        b"From: b@example.test\r\nMessage-ID: <8bit@hostile.test>\r\nSubject: \xe9t\xe9\r\n\r\n"
        b"\x00\x01\x02 NUL and controls\r\n\xff\xfe\x80 high bytes\r\nlone\rCR inside\r\n"
    )
    box = healthy_box([bare_lf, binary])

    # Message 1's whole answer is in bare LF, the status line and final "." too.
    box.overrides["RETR"] = lambda conn, arg, state: conn.send(
        b"+OK\n" + stuff(bare_lf)[:-3] + b".\n" if arg == b"1" else b"+OK\r\n" + stuff(binary)
    )
    with FakeServer(box) as server:
        account = account_on(server)

        first = run(account)

        assert first.status == Run.Status.OK, reason(first)
        # Line endings become LF (Maildir's convention); every other byte is kept.
        assert sorted(delivered(account)) == sorted([bare_lf, binary.replace(b"\r\n", b"\n")])
        assert box.messages == []


# -- size ----------------------------------------------------------------------


def seed_seen(account, count: int):
    """Seen-state for uid-1 .. uid-<count>, as earlier runs left it. Generated
    in SQL: through the ORM 100,000 rows take 10 s, through parameters 4 s."""
    numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)"
    columns = "(account_id, uid, first_seen, message_key)"
    rows = "SELECT %s, 'uid-' || i, CURRENT_TIMESTAMP, '' FROM n"
    sql = f"{numbers} INSERT INTO {SeenMessage._meta.db_table} {columns} {rows}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [count, account.pk])


def test_it_lists_a_100000_message_mailbox_once_per_session():
    # A mailbox that keeps a copy of everything grows this big; each check
    # then finds some new messages among the 100,000 it has seen before.
    total, new, per_pass = 100_000, 150, 50
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        messages_per_download=per_pass
    )
    originals = [b"Subject: %d\r\nMessage-ID: <%d@big.test>\r\n\r\nx\r\n" % (i, i)
                 for i in range(total)]
    box = healthy_box(originals)
    with FakeServer(box) as server:
        account = account_on(server, keep_policy=RemoteAccount.Keep.KEEP)
        seed_seen(account, total - new)

        started = time.monotonic()
        first = run(account)
        seconds = time.monotonic() - started

        assert first.status == Run.Status.OK, reason(first)
        assert (first.seen, first.delivered, first.total) == (total, new, new)
        assert sorted(delivered(account)) == sorted(lf(m) for m in originals[-new:])
        sessions = b"\n".join(server.commands()).split(b"CAPA")[1:]
        assert len(sessions) == box.sessions == new // per_pass
        assert all(s.split().count(b"UIDL") == s.split().count(b"LIST") == 1 for s in sessions)
        assert server.commands().count(b"RETR") == new and b"TOP" not in server.commands()
        print(f"100,000-message mailbox, {new} new in {len(sessions)} passes: {seconds:.1f} s")


def finished(account) -> Run | None:
    return Run.objects.filter(account=account).exclude(status=Run.Status.RUNNING).first()


# -- a real worker ---------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_worker_working_after_a_hostile_server(dovecot, mail_user, tmp_path):
    originals = make_messages(2)
    box = healthy_box(originals)
    box.overrides["RETR"] = lambda conn, arg, state: drip(b"+OK\r\n" + stuff(originals[0]))(conn)
    dovecot.deliver_many(mail_user[0], 3)
    # One process, one slot: the healthy task must run in the very process
    # that just went through the hostile session.
    worker = CeleryProcess("worker", tmp_path, env=process_env(), concurrency=1).start()
    try:
        with FakeServer(box) as server:
            hostile = account_on(server)
            healthy = make_account(dovecot, *mail_user)
            fetch_account.delay(hostile.pk, Run.Trigger.MANUAL)
            # Queued once the hostile session holds the slot: a broker need not
            # hand out two tasks queued in the same instant in that order.
            wait_for(lambda: Run.objects.filter(account=hostile).first(), timeout=30,
                     what="the hostile run to start")
            fetch_account.delay(healthy.pk, Run.Trigger.MANUAL)

            bad = wait_for(lambda: finished(hostile), timeout=30, what="the hostile run")
            good = wait_for(lambda: finished(healthy), timeout=30, what="the healthy run")
        assert worker.proc.poll() is None, worker.log()[-3000:]
    finally:
        worker.stop()

    # Each message in turn timed out and was left on the server.
    assert bad.status == Run.Status.PARTIAL and "no answer from server" in bad.error
    assert box.messages == originals
    assert good.status == Run.Status.OK, good.error
    assert good.started >= bad.finished  # the same slot, after the hostile session
    assert good.delivered == 3 and dovecot.messages(mail_user[0]) == []
    assert len(local_messages(healthy.owner)) == 3


def test_it_caps_an_endless_message_even_without_an_account_limit(settings):
    # No account limit: the global hard cap still ends the download.
    settings.POPADMIN_HARD_MESSAGE_MB = 1
    originals = make_messages(2)
    box = healthy_box(originals)
    box.overrides["RETR"] = lambda conn, arg, state: (
        endless(conn, arg, state) if arg == b"1" else box.cmd_RETR(conn, arg, state)
    )
    with FakeServer(box) as server:
        account = account_on(server)

        first = run(account)

    assert "message uid-1: over the size limit while downloading" in reason(first)
    assert sorted(delivered(account)) == [lf(originals[1])]
    assert box.messages == originals[:1]
