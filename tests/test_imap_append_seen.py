"""Issue 13: an IMAP source's \\Seen travels with the message into an IMAP APPEND
target or a Maildir (unseen unless the source said seen), and fetching changes
no source flag."""

from pathlib import Path

import pytest

from delivery.models import Delivery
from retrieval import engine
from retrieval.models import GlobalSettings, Run, SeenMessage
from retrieval.protocols.base import ConnectionParams
from retrieval.protocols.imap import IMAPSession
from tests.append_helpers import fetch, imap_target
from tests.factories import make_account


def flag_seen(dovecot, mail_user, uid):
    """Mark one source message \\Seen as a mail client would (a real UID STORE)."""
    session = IMAPSession(ConnectionParams(
        "localhost", dovecot.imaps_port, "tls", *mail_user, ca_file=str(dovecot.ca_file),
        timeout=10.0))
    session.connect()
    try:
        session._select("INBOX")
        session._command(b"UID", b"STORE", b"%d" % uid, b"+FLAGS.SILENT", b"(\\Seen)")
    finally:
        session.commit()


def flags(server, user, password):
    """Each message's FLAGS response, in UID order."""
    return [r for r in fetch(server, user, password, items="(FLAGS)")]


@pytest.fixture
def dest(append_dovecot):
    user, password = append_dovecot.add_user()
    return append_dovecot, user, password


def test_the_listing_says_which_messages_are_seen(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    flag_seen(dovecot, mail_user, 2)
    session = IMAPSession(ConnectionParams(
        "localhost", dovecot.imaps_port, "tls", *mail_user, ca_file=str(dovecot.ca_file),
        timeout=10.0))
    session.connect()
    try:
        assert [m.seen for m in session.list_messages()] == [False, True]
    finally:
        session.close()


@pytest.mark.django_db
def test_a_seen_source_message_arrives_seen_and_an_unseen_one_unseen(dovecot, mail_user, dest):
    server, user, password = dest
    dovecot.deliver_many(mail_user[0], 2)
    flag_seen(dovecot, mail_user, 1)
    account = make_account(dovecot, *mail_user, protocol="imap", keep_policy="keep",
                           delivery_target=imap_target(server, user, password))

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.status, run.delivered, run.failed) == (Run.Status.OK, 2, 0), (run.error, run.notes)
    first, second = flags(server, user, password)
    assert b"\\Seen" in first
    assert b"\\Seen" not in second
    # Kept at the source, each with the flags it had: the fetch (BODY.PEEK) set none.
    source_first, source_second = flags(dovecot, *mail_user)
    assert b"\\Seen" in source_first
    assert b"\\Seen" not in source_second


@pytest.mark.django_db
def test_into_a_maildir_a_seen_message_is_stored_read_and_still_found_again(dovecot, mail_user):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(duplicate_check=False)
    dovecot.deliver_many(mail_user[0], 2)
    flag_seen(dovecot, mail_user, 2)
    account = make_account(dovecot, *mail_user, protocol="imap", keep_policy="keep")

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.status, run.delivered) == (Run.Status.OK, 2), (run.error, run.notes)
    home = Path(account.owner.maildir)
    [unseen] = (home / "new").iterdir()
    [seen] = (home / "cur").iterdir()
    assert seen.name.endswith(":2,S") and ":" not in unseen.name
    assert b"test message 2 of 2" in seen.read_bytes()
    # The token in the name still finds the read copy after a crash before the records.
    SeenMessage.objects.filter(account=account).delete()
    Delivery.objects.all().delete()
    again = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert (again.delivered, again.duplicates) == (0, 2), again.notes
    assert sum("interrupted session" in note for note in again.notes) == 2
