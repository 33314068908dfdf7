"""The engine against a real Dovecot over IMAP: the same promises as POP3."""

import pytest

from retrieval import engine
from retrieval.models import GlobalSettings, Run, SeenMessage
from tests.factories import local_messages, make_account

pytestmark = pytest.mark.django_db


def renumber_folder(maildir):
    """Give the folder a new UIDVALIDITY, as a server restored from backup would."""
    uidlist = maildir / "dovecot-uidlist"
    header, rest = uidlist.read_bytes().split(b"\n", 1)
    fields = [b"V12345" if f.startswith(b"V") else f for f in header.split(b" ")]
    uidlist.write_bytes(b" ".join(fields) + b"\n" + rest)
    for index in maildir.glob("dovecot.index*"):
        index.unlink()  # or Dovecot would keep serving the UIDVALIDITY it cached


def imap_account(dovecot, user, **fields):
    return make_account(dovecot, *user, protocol="imap", **fields)


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_it_fetches_delivers_and_deletes(dovecot, mail_user, security):
    dovecot.deliver_many(mail_user[0], 3)
    account = imap_account(dovecot, mail_user, security=security)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert (run.seen, run.delivered, run.deleted) == (3, 3, 3)
    assert len(local_messages(account.owner)) == 3
    assert dovecot.messages(mail_user[0]) == []


def test_it_keeps_mail_unread_and_fetches_nothing_twice(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    account = imap_account(dovecot, mail_user, keep_policy="keep")

    first = engine.run_account(account.pk, Run.Trigger.MANUAL)
    second = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (first.delivered, second.fetched, second.delivered) == (2, 0, 0)
    assert len(dovecot.messages(mail_user[0])) == 2
    # BODY.PEEK[]: the source's \\Seen flag ("S" in a maildir file name) is untouched.
    cur = dovecot.maildir(mail_user[0]) / "cur"
    assert not [p for p in cur.iterdir() if ":2," in p.name and "S" in p.name.split(":2,")[1]]


def test_it_reads_several_folders(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 1)
    dovecot.deliver_many(mail_user[0], 2, folder="Archive")
    account = imap_account(dovecot, mail_user, folders=["INBOX", "Archive"])

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.seen, run.delivered) == (3, 3), run.error
    assert dovecot.messages(mail_user[0], "Archive") == []


def test_it_reports_a_missing_folder(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 1)
    account = imap_account(dovecot, mail_user, folders=["INBOX", "Nope"])

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert "Nope" in run.error and "does not exist" in run.error
    assert len(dovecot.messages(mail_user[0])) == 1


def test_it_survives_a_uidvalidity_change_without_redelivering(dovecot, mail_user):
    # Prove it with the Message-ID setting off: the seen-state must do it alone.
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(duplicate_check=False)
    dovecot.deliver_many(mail_user[0], 3)
    account = imap_account(dovecot, mail_user, keep_policy="keep")
    engine.run_account(account.pk, Run.Trigger.MANUAL)
    old = set(SeenMessage.objects.filter(account=account).values_list("uid", flat=True))
    renumber_folder(dovecot.maildir(mail_user[0]))
    dovecot.deliver_many(mail_user[0], 1)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert (run.seen, run.delivered, run.duplicates) == (4, 1, 3)
    assert any("UIDVALIDITY changed" in note for note in run.notes)
    assert len(local_messages(account.owner)) == 4
    new = set(SeenMessage.objects.filter(account=account).values_list("uid", flat=True))
    assert len(new) == 4 and not (new & old)
