"""Hostile and broken POP3 servers, seen through the engine.

Every case checks the same three things: the Run ends with a reason a
person can read, nothing is lost (each message is on the server or whole in
the local Maildir, never half), and a later healthy run delivers the rest
exactly once.
"""

import time
import uuid

import pytest

from popadmin.celery import app
from retrieval import engine
from retrieval.models import GlobalSettings, RemoteAccount, Run, SeenMessage
from retrieval.protocols.pop3 import POP3Session
from retrieval.tasks import fetch_account
from tests.factories import local_messages, make_account, make_mailbox
from tests.fakeserver import FakeServer, Pop3Mailbox, stuff
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = pytest.mark.django_db

TEN_MB = 10 * 1024 * 1024


@pytest.fixture(autouse=True)
def short_timeouts():
    # Small enough that a stalling server costs a test seconds, not minutes.
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0
    )


def make_messages(n: int) -> list[bytes]:
    tag = uuid.uuid4().hex[:8]
    return [
        f"From: a@example.test\r\nMessage-ID: <{i}.{tag}@hostile.test>\r\n"
        f"Subject: message {i}\r\n\r\nbody of message {i}\r\n".encode()
        for i in range(1, n + 1)
    ]


def healthy_box(messages: list[bytes], **kwargs) -> Pop3Mailbox:
    kwargs.setdefault("uidls", [f"uid-{i}" for i in range(1, len(messages) + 1)])
    return Pop3Mailbox(messages, **kwargs)


def account_on(server: FakeServer, **fields) -> RemoteAccount:
    account = RemoteAccount(
        owner=make_mailbox(),
        protocol="pop3",
        security="none",
        host="127.0.0.1",
        port=server.port,
        username="alice",
        **fields,
    )
    account.set_password("secret")
    account.save()
    return account


def run(account) -> Run:
    return engine.run_account(account.pk, Run.Trigger.MANUAL)


def lf(message: bytes) -> bytes:
    return message.replace(b"\r\n", b"\n")


def delivered(account) -> list[bytes]:
    """Local copies without the trace headers our delivery puts in front."""
    marker = f"Delivered-To: {account.owner.address}\n".encode()
    return [m.split(marker, 1)[1] for m in local_messages(account.owner)]


def reason(run_: Run) -> str:
    return " ".join([run_.error, *run_.notes])


def assert_failed_safely(run_: Run, account, box: Pop3Mailbox, originals, *words):
    assert run_.status in (Run.Status.ERROR, Run.Status.PARTIAL), run_.status
    assert all(w in reason(run_) for w in words), reason(run_)
    local = delivered(account)
    # A local file that is not a whole original would be a partial message.
    assert all(m in {lf(o) for o in originals} for m in local), "partial or foreign message"
    assert len(local) == len(set(local)), "a message was delivered twice"
    remote = {lf(m) for m in box.messages}
    assert all(lf(o) in remote or lf(o) in local for o in originals), "a message was lost"


def assert_healthy_rerun(account, box: Pop3Mailbox, originals, server=None) -> Run:
    box.overrides.clear()
    box.greeting = b"+OK fake POP3 ready"
    if server is not None:
        server.handler = box
    again = run(account)
    assert again.status == Run.Status.OK, reason(again)
    assert sorted(delivered(account)) == sorted(lf(o) for o in originals)
    if account.keep_policy == RemoteAccount.Keep.DELETE:
        assert box.messages == []
    return again


# -- oversized and endless input ------------------------------------------


@pytest.mark.parametrize("where", ["greeting", "UIDL", "RETR"])
def test_it_contains_a_10_mb_line_without_crlf(where):
    originals = make_messages(3)
    box = healthy_box(originals)
    if where == "greeting":
        box.greeting = b"+OK " + b"x" * TEN_MB
    else:
        box.overrides[where] = lambda conn, arg, state: conn.send(b"+OK\r\n" + b"x" * TEN_MB)
    with FakeServer(box) as server:
        account = account_on(server)

        failed = run(account)

        assert_failed_safely(failed, account, box, originals, "line longer than 65536 bytes")
        assert box.messages == originals
        assert_healthy_rerun(account, box, originals)


def drip(data: bytes):
    """Send one byte per second until the client gives up or the test ends."""

    def send(conn):
        for i in range(len(data)):
            conn.send(data[i : i + 1])
            if not conn.sleep(1):
                return "hangup"
        return None

    return send


@pytest.mark.parametrize("where", ["greeting", "RETR"])
def test_it_gives_up_on_one_byte_per_second(where):
    originals = make_messages(2)
    box = healthy_box(originals)
    with FakeServer(box) as server:
        if where == "greeting":
            server.handler = drip(b"+OK slow server ready\r\n")
        else:
            box.overrides["RETR"] = lambda conn, arg, state: drip(
                b"+OK\r\n" + stuff(box.messages[int(arg) - 1])
            )(conn)
        account = account_on(server)

        started = time.monotonic()
        failed = run(account)

        # The budget grows by 1 s per KB received, so a drip ends near the timeout.
        assert time.monotonic() - started < 6
        assert_failed_safely(failed, account, box, originals, "no answer from server for 2 s")
        assert box.messages == originals
        assert_healthy_rerun(account, box, originals, server)


def test_it_gives_up_on_a_response_that_stalls_before_its_end():
    originals = make_messages(2)
    box = healthy_box(originals)

    def half_then_silence(conn, arg, state):
        data = stuff(box.messages[int(arg) - 1])
        conn.send(b"+OK\r\n" + data[: len(data) // 2])
        conn.sleep(60)  # never the final "."; ends when the test stops the server
        return "hangup"

    box.overrides["RETR"] = half_then_silence
    with FakeServer(box) as server:
        account = account_on(server)

        failed = run(account)

        assert_failed_safely(failed, account, box, originals, "no answer from server for 2 s",
                             "while downloading message 1")
        assert delivered(account) == []
        assert_healthy_rerun(account, box, originals)


def endless(conn, arg, state):
    """A multi-line answer at full speed with no final "." ever."""
    conn.send(b"+OK\r\n")
    chunk = b"1 endless-line-of-a-listing-that-never-ends\r\n" * 2000
    while not conn.server.stopping.is_set():
        conn.send(chunk)  # raises once the client hangs up, ending the thread


def test_it_cuts_off_an_endless_listing(monkeypatch):
    # The real cap is 256 MB; a lower one keeps the test fast, the code path is the same.
    monkeypatch.setattr(POP3Session, "max_listing", 1024 * 1024)
    originals = make_messages(2)
    box = healthy_box(originals, overrides={"UIDL": endless})
    with FakeServer(box) as server:
        account = account_on(server)

        failed = run(account)

        assert_failed_safely(failed, account, box, originals,
                             "server sent more than 1048576 bytes in one response")
        assert_healthy_rerun(account, box, originals)


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
        assert sorted(delivered(account)) == sorted(lf(m) for m in originals[1:])
        assert box.messages == originals[:1]
        assert_healthy_rerun(account, box, originals)


# -- broken sessions ---------------------------------------------------------


def test_it_never_delivers_a_message_cut_off_mid_download():
    originals = make_messages(3)
    box = healthy_box(originals)

    def half_then_hang_up(conn, arg, state):
        if arg != b"2":
            return box.cmd_RETR(conn, arg, state)
        data = stuff(box.messages[1])
        conn.send(b"+OK\r\n" + data[: len(data) // 2])
        return "hangup"

    box.overrides["RETR"] = half_then_hang_up
    with FakeServer(box) as server:
        account = account_on(server)

        failed = run(account)

        assert_failed_safely(failed, account, box, originals,
                             "connection lost while downloading message 2")
        assert delivered(account) == [lf(originals[0])]
        assert box.messages == originals  # no QUIT, so the DELE of message 1 rolled back
        again = assert_healthy_rerun(account, box, originals)
        assert (again.fetched, again.delivered, again.deleted) == (2, 2, 3)


@pytest.mark.parametrize(
    "greeting", [b"\x00\xff\x1b[31mHELLO\x07", b"-ERR go away", b"* OK IMAP4rev1 ready"]
)
def test_it_refuses_a_garbage_greeting(greeting):
    originals = make_messages(2)
    box = healthy_box(originals, greeting=greeting)
    with FakeServer(box) as server:
        account = account_on(server)

        failed = run(account)

        assert_failed_safely(failed, account, box, originals, "unexpected greeting from server")
        assert "\x00" not in failed.error and "\x1b" not in failed.error
        assert b"USER" not in server.commands()  # never sends the password to garbage
        assert_healthy_rerun(account, box, originals)


def test_it_keeps_a_message_whose_dele_is_refused_and_deletes_it_later():
    originals = make_messages(3)
    box = healthy_box(originals)
    box.overrides["DELE"] = lambda conn, arg, state: conn.sendline(
        b"-ERR [SYS/PERM] mailbox is read-only"
    )
    with FakeServer(box) as server:
        account = account_on(server)

        failed = run(account)

        assert_failed_safely(failed, account, box, originals,
                             "server refused to delete message 1: [SYS/PERM] mailbox is read-only")
        assert delivered(account) == [lf(originals[0])]
        assert box.messages == originals
        again = assert_healthy_rerun(account, box, originals)
        assert (again.fetched, again.delivered, again.deleted) == (2, 2, 3)


@pytest.mark.parametrize("answer", [b"-ERR [SYS/TEMP] cannot update mailbox", None])
def test_it_reports_a_rejected_quit_and_deletes_next_time(answer):
    originals = make_messages(3)
    box = healthy_box(originals)

    def quit_(conn, arg, state):
        if answer is None:
            conn.sleep(60)  # no answer at all
        else:
            conn.sendline(answer)
        return "hangup"  # and the deletions are not applied

    box.overrides["QUIT"] = quit_
    with FakeServer(box) as server:
        account = account_on(server)

        failed = run(account)

        assert_failed_safely(failed, account, box, originals,
                             "server did not confirm QUIT; deletions may not have been applied")
        assert sorted(delivered(account)) == sorted(lf(m) for m in originals)
        assert box.messages == originals
        again = assert_healthy_rerun(account, box, originals)
        assert (again.fetched, again.deleted) == (0, 3)


# -- identities a server gets wrong -------------------------------------------


def retr_count(server) -> int:
    return server.commands().count(b"RETR")


def test_it_tells_apart_messages_with_duplicate_uidls():
    originals = make_messages(4)
    box = healthy_box(originals, uidls=["same", "same", "other", "same"])
    with FakeServer(box) as server:
        account = account_on(server, keep_policy=RemoteAccount.Keep.KEEP)

        first, second = run(account), run(account)

        assert first.status == second.status == Run.Status.OK, reason(first) + reason(second)
        assert sorted(delivered(account)) == sorted(lf(m) for m in originals)
        assert second.fetched == 0 and retr_count(server) == 4
        assert set(SeenMessage.objects.filter(account=account).values_list("uid", flat=True)) == {
            "same", "same#dup2", "other", "same#dup3"
        }


def test_it_hashes_uidls_with_illegal_characters():
    illegal = [b"has space", b"ctl\x01\x7f", b"nul\x00byte", b"x" * 71, "grüße".encode(), b""]
    originals = make_messages(len(illegal) + 1)
    box = healthy_box(originals, uidls=[*illegal, b"fine-7"])
    with FakeServer(box) as server:
        account = account_on(server, keep_policy=RemoteAccount.Keep.KEEP)

        first, second = run(account), run(account)

        assert first.status == second.status == Run.Status.OK, reason(first) + reason(second)
        assert sorted(delivered(account)) == sorted(lf(m) for m in originals)
        # Stable identities: the second run fetches nothing again.
        assert second.fetched == 0 and retr_count(server) == len(originals)
        uids = SeenMessage.objects.filter(account=account).values_list("uid", flat=True)
        # Stored uids are printable ASCII, whatever the server sent (PostgreSQL refuses NUL).
        assert all(u.isascii() and u.isprintable() and " " not in u for u in uids), list(uids)
        assert len(set(uids)) == len(originals)


@pytest.mark.parametrize("top", ["TOP works", "TOP refused"])
def test_it_identifies_messages_by_content_without_uidl(top):
    originals = make_messages(3)
    box = Pop3Mailbox(originals, uidls=None)
    if top == "TOP refused":
        box.overrides["TOP"] = lambda conn, arg, state: conn.sendline(b"-ERR no TOP here")
    with FakeServer(box) as server:
        account = account_on(server, keep_policy=RemoteAccount.Keep.KEEP)

        first, second = run(account), run(account)

        assert first.status == second.status == Run.Status.OK, reason(first) + reason(second)
        assert (first.delivered, second.fetched, second.delivered) == (3, 0, 0)
        assert sorted(delivered(account)) == sorted(lf(m) for m in originals)
        uids = SeenMessage.objects.filter(account=account).values_list("uid", flat=True)
        assert all(u.startswith("sha256:") for u in uids)
        # Deleting works the same on content identities, and only once.
        account.keep_policy = RemoteAccount.Keep.DELETE
        account.save()
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

    def retr(conn, arg, state):
        data = stuff(box.messages[int(arg) - 1])
        if arg == b"1":  # the whole answer in bare LF, terminator included
            data = b"+OK\n" + data[: -len(b".\r\n")] + b".\n"
        else:
            data = b"+OK\r\n" + data
        conn.send(data)

    box.overrides["RETR"] = retr
    with FakeServer(box) as server:
        account = account_on(server)

        first = run(account)

        assert first.status == Run.Status.OK, reason(first)
        # Line endings become LF (Maildir's convention); every other byte is kept.
        assert sorted(delivered(account)) == sorted([bare_lf, binary.replace(b"\r\n", b"\n")])
        assert b"lone\rCR inside\n" in delivered(account)[0] + delivered(account)[1]
        assert box.messages == []
