"""A duplicate is the same Message-ID *and* the same content (real Dovecot).

A forged message queued ahead of the genuine one with the same Message-ID
must not get the genuine one dropped and deleted at the source.
"""

import pytest

from delivery.dedupe import Verdict, verdict
from delivery.models import Delivery
from retrieval import engine
from retrieval.models import GlobalSettings, Run
from tests.factories import local_messages, make_account
from tests.test_engine_imap import imap_account, renumber_folder

pytestmark = pytest.mark.django_db

FORGED = (b"From: ceo@corp.test\nTo: you@corp.test\nMessage-ID: <real-1@corp.test>\n"
          b"Subject: invoice\n\nplease pay account 666\n")
GENUINE = (b"From: ceo@corp.test\nTo: you@corp.test\nMessage-ID: <real-1@corp.test>\n"
           b"Subject: invoice\n\nplease pay account 123\n")
CLASH_NOTE = "same Message-ID as an earlier message but different content: delivered"


def test_a_forged_copy_ahead_of_the_genuine_one_drops_neither(dovecot, mail_user):
    dovecot.deliver(mail_user[0], FORGED)
    dovecot.deliver(mail_user[0], GENUINE)
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert (run.delivered, run.duplicates, run.deleted) == (2, 0, 2)
    assert sorted(m.split(b"\n\n", 1)[1] for m in local_messages(account.owner)) == sorted(
        [b"please pay account 666\n", b"please pay account 123\n"])
    assert any(CLASH_NOTE in note for note in run.notes), run.notes


def test_a_forged_copy_from_an_earlier_run_drops_nothing(dovecot, mail_user):
    dovecot.deliver(mail_user[0], FORGED)
    account = make_account(dovecot, *mail_user)
    engine.run_account(account.pk, Run.Trigger.MANUAL)
    dovecot.deliver(mail_user[0], GENUINE)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.duplicates) == (1, 0)
    assert any(CLASH_NOTE in note for note in run.notes), run.notes
    assert len(local_messages(account.owner)) == 2


def with_trace(message: bytes, recipient: str, hop: str) -> bytes:
    """The copy a provider's catch-all box keeps for one recipient."""
    trace = (f"Return-Path: <bounce-{hop}@out.test>\nDelivered-To: {recipient}\n"
             f"X-Original-To: {recipient}\nReceived: from {hop}.out.test by mx; "
             f"Mon, 1 Jan 2024 00:00:0{len(hop)} +0000\nX-Spam-Score: {len(hop)}\n")
    return trace.encode() + message


@pytest.mark.parametrize("message_id", [b"Message-ID: <copies@out.test>\n", b""])
def test_copies_that_differ_only_in_trace_headers_are_one_message(
    dovecot, mail_user, message_id
):
    # Without a Message-ID too: the content digest leaves the trace out.
    original = b"From: x@out.test\nTo: ann@corp.test, bob@corp.test\n" + message_id + (
        b"Subject: one message\n\nsame body\r\n")
    dovecot.deliver(mail_user[0], with_trace(original, "ann@corp.test", "a"))
    dovecot.deliver(mail_user[0], with_trace(original, "bob@corp.test", "bb"))
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.duplicates, run.deleted) == (1, 1, 2), run.notes
    assert not any(CLASH_NOTE in note for note in run.notes)
    assert Delivery.objects.filter(run=run, result="duplicate").count() == 1


def test_an_edited_subject_under_the_same_message_id_is_not_a_duplicate(dovecot, mail_user):
    edited = GENUINE.replace(b"Subject: invoice", b"Subject: invoice (updated)")
    dovecot.deliver(mail_user[0], GENUINE)
    dovecot.deliver(mail_user[0], edited)
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.duplicates) == (2, 0)


def test_a_renumbered_folder_still_delivers_a_forgery_of_mail_taken_before(
    dovecot, mail_user
):
    # The seen-state alone decides here: the duplicate check is off.
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(duplicate_check=False)
    dovecot.deliver(mail_user[0], GENUINE)
    dovecot.deliver_many(mail_user[0], 1)
    account = imap_account(dovecot, mail_user, keep_policy="keep")
    engine.run_account(account.pk, Run.Trigger.MANUAL)
    renumber_folder(dovecot.maildir(mail_user[0]))
    dovecot.deliver(mail_user[0], FORGED)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert (run.seen, run.delivered, run.duplicates) == (3, 1, 2)
    assert any("UIDVALIDITY changed" in note for note in run.notes)
    assert len(local_messages(account.owner)) == 3


def test_rows_from_before_digests_prove_nothing_about_content():
    assert verdict("d1", {"d1"}) is Verdict.DUPLICATE
    assert verdict("d1", {"d2"}) is Verdict.CLASH
    # A row without a digest cannot show the content matched: deliver, no clash note.
    assert verdict("d1", {""}) is Verdict.NEW
    assert verdict("d1", set()) is Verdict.NEW
