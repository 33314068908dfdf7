"""Reading ahead (retrieval/read_ahead.py): the next messages of a batch are
downloaded before the one in hand is delivered, and their earlier copies looked
up in one query. What is delivered, recorded and deleted does not change: a
refusal waits for its turn, a connection lost while reading ahead ends the pass
with nothing delivered from it and nothing deleted on it, duplicates inside and
outside the window are still found."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from retrieval import engine
from retrieval.models import GlobalSettings, Run
from retrieval.read_ahead import AHEAD_MESSAGES
from tests.factories import local_messages, make_account, make_mailbox
from tests.fakeserver import FakeServer
from tests.hostile import PROTOCOLS, account_on, delivered, lf, make_messages, reason, run
from tests.misbehaving import SHORT, MisbehavingPop3, big_messages

pytestmark = pytest.mark.django_db

POP3 = PROTOCOLS["pop3"]


@pytest.fixture(autouse=True)
def short_timeouts():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        timeout_seconds=2, connection_retries=1, retry_seconds=0, duplicate_check=True)


def lookups(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith("SELECT") and '"delivery_delivery"' in q["sql"]]


def test_a_connection_lost_while_reading_ahead_delivers_nothing_of_that_pass():
    originals = make_messages(6)
    box = POP3.box(originals)

    def half(conn, head, data):
        conn.send(head + data[: len(data) // 2])
        return "hangup"

    POP3.on_body(box, 4, half)  # read ahead while message 1 is in hand
    with FakeServer(box) as server:
        account = account_on(POP3, server, keep_policy="delete")
        first = run(account)

        assert "connection lost while downloading message 4" in reason(first)
        # The pass ended before message 1 was delivered; the next pass (a new
        # connection) took the others, message 4 stays for the next run.
        assert sorted(delivered(account)) == sorted(lf(m) for i, m in enumerate(originals)
                                                    if i != 3)
        assert box.messages == [originals[3]]
        assert (first.fetched, first.delivered) == (5, 5)

        box.overrides.clear()
        again = run(account)
    assert again.status == Run.Status.OK, reason(again)
    assert sorted(delivered(account)) == sorted(map(lf, originals))  # each once
    assert box.messages == []


def test_a_refusal_read_ahead_is_handled_in_its_turn_and_the_rest_delivered():
    originals = big_messages(5, "ahead", octets=500_000)
    box = MisbehavingPop3(originals, {"uid-3": SHORT})
    with FakeServer(box) as server:
        account = account_on(POP3, server, keep_policy="delete")

        done = run(account)

    assert done.status == Run.Status.PARTIAL
    assert "message uid-3: not fetched, left on the server: message 3 arrived cut short" \
        in reason(done)
    assert sorted(delivered(account)) == sorted(lf(m) for i, m in enumerate(originals) if i != 2)
    assert box.messages == [originals[2]]  # the refused one only, never deleted


def test_duplicates_in_the_window_and_from_before_are_found_with_one_lookup(
        dovecot, mail_user):
    same = b"From: a@out.test\nMessage-ID: <twice@out.test>\nSubject: s\n\nsame body\n"
    earlier = b"From: b@out.test\nMessage-ID: <before@out.test>\nSubject: t\n\nolder\n"
    other = dovecot.add_user()
    dovecot.deliver(other[0], earlier)
    first = make_account(dovecot, *other)
    assert engine.run_account(first.pk, Run.Trigger.MANUAL).delivered == 1
    user = mail_user[0]
    dovecot.deliver_many(user, 3)
    dovecot.deliver(user, same)
    dovecot.deliver(user, earlier)  # already in the owner's mailbox, from the other account
    dovecot.deliver(user, same)
    dovecot.deliver_many(user, 2)
    account = make_account(dovecot, *mail_user, owner=first.owner)

    with CaptureQueriesContext(connection) as queries:
        done = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (done.fetched, done.delivered, done.duplicates) == (8, 6, 2), reason(done)
    assert len(local_messages(account.owner)) == 1 + 6
    assert len(lookups(queries)) == 1  # 8 messages: the first and 7 read ahead of it
    assert dovecot.messages(user) == []


def test_a_catch_all_account_looks_up_each_message_as_ever(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 5)
    account = make_account(dovecot, *mail_user, mode="catchall")
    make_mailbox()  # a directory to resolve against

    with CaptureQueriesContext(connection) as queries:
        done = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert done.delivered == 5, reason(done)
    assert len(lookups(queries)) >= 5


def test_a_batch_longer_than_the_window_is_read_in_windows(dovecot, mail_user):
    count = 2 * (AHEAD_MESSAGES + 1) + 3
    dovecot.deliver_many(mail_user[0], count)
    account = make_account(dovecot, *mail_user)

    with CaptureQueriesContext(connection) as queries:
        done = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert done.delivered == count and done.status == Run.Status.OK, reason(done)
    assert len(lookups(queries)) == 3
    assert len(local_messages(account.owner)) == count
