"""Run notes are capped and summarised: thousands of notes, a small row."""

import json

import pytest
from django.db import connection

from retrieval import engine
from retrieval.models import GlobalSettings, RemoteAccount, Run
from retrieval.models.notes import KEEP
from tests.factories import make_account, make_mailbox

pytestmark = pytest.mark.django_db

ROW_BOUND = 40_000  # bytes of notes JSON, whatever a run goes through


def stored_notes_bytes(run) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT notes FROM {Run._meta.db_table} WHERE id = %s", [run.pk])  # noqa: S608
        value = cursor.fetchone()[0]
    return len(value if isinstance(value, str) else json.dumps(value))


def fresh_run() -> Run:
    account = RemoteAccount(owner=make_mailbox(), protocol="pop3", security="tls",
                            host="pop.example.test", port=995, username="user")
    account.set_password("pw")
    account.save()
    return Run.objects.create(account=account, trigger=Run.Trigger.MANUAL)


def test_six_thousand_notes_make_a_small_row_with_a_summary():
    run = fresh_run()
    for i in range(1, 6001):
        run.note(f"message {i}: 2000000 bytes, over the size limit; left on server")
    run.note("folder INBOX: something else entirely")
    run.save()

    run.refresh_from_db()
    assert stored_notes_bytes(run) < ROW_BOUND
    assert len(run.notes) == KEEP + 2
    assert run.notes[0] == "message 1: 2000000 bytes, over the size limit; left on server"
    assert run.notes[KEEP - 1].startswith("message 50: ")
    assert run.notes[KEEP:] == [
        "and 5,950 more like this: message 51: 2000000 bytes, over the size limit; "
        "left on server",
        "and 1 more like this: folder INBOX: something else entirely",
    ]


def test_counts_go_on_after_the_row_is_read_back():
    run = fresh_run()
    for i in range(KEEP + 10):
        run.note(f"message {i}: mailbox full")
    run.save()

    again = Run.objects.get(pk=run.pk)
    for i in range(5):
        again.note(f"message x{i}: mailbox full")
    again.save()

    again.refresh_from_db()
    assert again.notes[-1] == "and 15 more like this: message 50: mailbox full"


def test_repeats_and_kinds_beyond_the_cap_are_counted_not_kept():
    run = fresh_run()
    for _ in range(3):
        run.note("service stopped; 4 messages left for later")
    for kind in range(KEEP + 40):
        letters = "".join(chr(ord("a") + int(digit)) for digit in str(kind))
        run.note(f"kind {letters}: {kind} things")
    run.save()

    run.refresh_from_db()
    assert run.notes.count("service stopped; 4 messages left for later") == 1
    assert "and 2 more like this: service stopped; 4 messages left for later" in run.notes
    assert run.notes[-1].endswith(" other notes")
    assert stored_notes_bytes(run) < ROW_BOUND


def test_one_long_note_is_cut():
    run = fresh_run()
    run.note("x" * 100_000)
    assert len(run.notes[0]) <= 500


def test_a_run_that_notes_every_message_stays_small(dovecot, mail_user):
    # A catch-all box of mail for nobody here: one note per message.
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(messages_per_download=0)
    for i in range(KEEP + 70):
        dovecot.deliver(mail_user[0], f"From: a@out.test\nTo: x{i}@elsewhere.test\n"
                        f"Message-ID: <n{i}@out.test>\n\nbody {i}\n".encode())
    account = make_account(dovecot, *mail_user, mode="catchall", keep_policy="keep",
                           owner=make_mailbox())

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert run.delivered == KEEP + 70
    run.refresh_from_db()
    assert len(run.notes) <= KEEP + 2
    assert any(n.startswith("and ") and " more like this: " in n for n in run.notes), run.notes
    assert stored_notes_bytes(run) < ROW_BOUND
