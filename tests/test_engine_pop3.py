"""The engine against a real Dovecot over POP3: delivery, keep policies, passes."""

import datetime as dt

import pytest
from django.utils import timezone

from delivery.models import Delivery
from retrieval import engine
from retrieval.models import GlobalSettings, Run, SeenMessage
from tests.factories import local_messages, make_account
from tests.workers import wait_for

pytestmark = pytest.mark.django_db


def test_it_fetches_delivers_and_deletes(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert (run.seen, run.fetched, run.delivered, run.deleted) == (3, 3, 3, 3)
    assert run.bytes > 3 * 2000
    stored = local_messages(account.owner)
    assert len(stored) == 3
    assert all(m.startswith(b"Received: from localhost") for m in stored)
    assert all(f"Delivered-To: {account.owner.address}".encode() in m for m in stored)
    assert dovecot.messages(mail_user[0]) == []
    account.refresh_from_db()
    assert account.last_status == "ok" and account.last_error == ""
    assert account.next_check > timezone.now()
    assert Delivery.objects.filter(run=run, result="delivered").count() == 3


def test_it_delivers_the_exact_bytes(dovecot, mail_user):
    body = (
        b"From: a@b.test\nMessage-ID: <exact@test>\nSubject: x\n\n"
        b".leading dot\n..two\n\xff\x00end\n"
    )
    dovecot.deliver(mail_user[0], body)
    account = make_account(dovecot, *mail_user)

    engine.run_account(account.pk, Run.Trigger.MANUAL)

    [stored] = local_messages(account.owner)
    assert stored.endswith(body)


def test_it_keeps_mail_and_fetches_nothing_twice(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user, keep_policy="keep")

    first = engine.run_account(account.pk, Run.Trigger.MANUAL)
    second = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (first.delivered, first.deleted) == (3, 0)
    assert (second.seen, second.fetched, second.delivered, second.deleted) == (3, 0, 0, 0)
    assert len(dovecot.messages(mail_user[0])) == 3
    assert len(local_messages(account.owner)) == 3


def test_it_deletes_after_keep_days(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user, keep_policy="keep_days", keep_days=7)
    engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert len(dovecot.messages(mail_user[0])) == 2
    old = SeenMessage.objects.filter(account=account).first()
    SeenMessage.objects.filter(pk=old.pk).update(first_seen=timezone.now() - dt.timedelta(days=8))

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.fetched, run.deleted) == (0, 1)
    assert len(dovecot.messages(mail_user[0])) == 1
    assert len(local_messages(account.owner)) == 2


def test_it_drains_the_mailbox_in_passes(dovecot, mail_user):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(messages_per_download=2)
    dovecot.deliver_many(mail_user[0], 5)
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.deleted, run.total) == (5, 5, 5)
    assert dovecot.messages(mail_user[0]) == []
    # One session per pass: 2 + 2 + 1 messages. Dovecot logs a session as it
    # ends, after our QUIT has returned, so wait for the lines.
    def sessions():
        lines = dovecot.log_text().splitlines()
        return [line for line in lines if f"pop3({mail_user[0]})" in line and "Logged out" in line]

    wait_for(lambda: len(sessions()) == 3, timeout=10, what="three POP3 sessions in the log")
    # Dovecot logs "del=<deleted>/<in mailbox>".
    assert sorted(line.split("del=")[1].split(",")[0] for line in sessions()) == [
        "1/1", "2/3", "2/5"
    ]


def test_it_drops_duplicate_message_ids(dovecot, mail_user):
    message = b"From: a@b.test\nMessage-ID: <same@test>\nSubject: twice\n\nhello\n"
    dovecot.deliver(mail_user[0], message)
    dovecot.deliver(mail_user[0], message)
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.duplicates, run.deleted) == (1, 1, 2)
    assert len(local_messages(account.owner)) == 1


def test_it_drops_a_message_already_delivered_recently(dovecot, mail_user):
    message = b"From: a@b.test\nMessage-ID: <again@test>\nSubject: again\n\nhello\n"
    dovecot.deliver(mail_user[0], message)
    account = make_account(dovecot, *mail_user)
    engine.run_account(account.pk, Run.Trigger.MANUAL)
    dovecot.deliver(mail_user[0], message)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.delivered, run.duplicates) == (0, 1)
    assert len(local_messages(account.owner)) == 1


def test_it_delivers_into_the_destination_folder(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, target_folder="Lists/Python")

    engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert len(local_messages(account.owner, "Lists/Python")) == 1
    assert (account.owner.maildir / ".Lists.Python" / "maildirfolder").exists()
    assert local_messages(account.owner) == []


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_it_speaks_every_security_mode(dovecot, mail_user, security):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, security=security)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert run.delivered == 1


def test_it_leaves_mail_alone_when_delivery_fails(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user)
    account.owner.maildir.parent.mkdir(parents=True, exist_ok=True)
    account.owner.maildir.write_bytes(b"a file where the Maildir should be")

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.PARTIAL
    assert (run.fetched, run.delivered, run.failed, run.deleted) == (2, 0, 2, 0)
    assert "cannot write to mailbox" in " ".join(run.notes)
    assert len(dovecot.messages(mail_user[0])) == 2
    assert not SeenMessage.objects.filter(account=account).exists()
