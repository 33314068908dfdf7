"""Crafted header values against the real Dovecot: stored cleaned, and one bad
message fails alone (noted, left on the server) instead of stopping the account."""

import pytest

from delivery import history
from delivery import message as message_module
from delivery.models import Delivery
from retrieval import engine
from retrieval.models import RemoteAccount, Run
from tests.factories import local_messages, make_account

# transaction=True: the engine runs in autocommit in production, and a failed
# INSERT must be seen as it is there, not inside a test's wrapping transaction.
pytestmark = pytest.mark.django_db(transaction=True)

NUL_ID = b"<a\x00b@evil.test>"
EIGHT_BIT_ID = b"<caf\xc3\xa9\xff\x1b[31m@evil.test>"  # UTF-8, a stray byte, ESC
LONG_ID = b"<" + b"x" * 3000 + b"@evil.test>"


def mail(message_id: bytes, subject: bytes) -> bytes:
    return (b"From: a@b.test\nMessage-ID: " + message_id + b"\nSubject: " + subject
            + b"\n\nhello " + subject + b"\n")


def crafted_mailbox(dovecot, user) -> list[bytes]:
    messages = [
        mail(b"<first@ok.test>", b"first"),
        mail(NUL_ID, b"nul"),
        mail(EIGHT_BIT_ID, b"eight bit"),
        mail(LONG_ID, b"long"),
        mail(b"<last@ok.test>", b"last"),
    ]
    for body in messages:
        dovecot.deliver(user, body)
    return messages


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return text.isprintable()


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_it_stores_crafted_message_ids_cleaned_and_fetches_the_rest(
    dovecot, mail_user, protocol
):
    crafted_mailbox(dovecot, mail_user[0])
    account = make_account(dovecot, *mail_user, protocol=protocol)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, (run.error, run.notes)
    assert (run.fetched, run.delivered, run.deleted) == (5, 5, 5)
    assert dovecot.messages(mail_user[0]) == []
    assert len(local_messages(account.owner)) == 5
    ids = list(Delivery.objects.filter(run=run).values_list("message_id", flat=True))
    assert len(ids) == 5 and all(storable(i) and len(i) <= 998 for i in ids), ids
    # Cleaned visibly, not silently: the NUL and the escape show as U+FFFD.
    assert "<a\ufffdb@evil.test>" in ids
    assert "<café\ufffd\ufffd[31m@evil.test>" in ids


def test_the_next_run_is_not_stuck_after_a_crafted_message(dovecot, mail_user):
    crafted_mailbox(dovecot, mail_user[0])
    account = make_account(dovecot, *mail_user, keep_policy="keep")
    engine.run_account(account.pk, Run.Trigger.MANUAL)

    second = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert second.status == Run.Status.OK, second.error
    assert (second.seen, second.fetched) == (5, 0)
    account.refresh_from_db()
    assert (account.last_status, account.consecutive_failures) == ("ok", 0)


def test_one_message_that_breaks_delivery_fails_alone(dovecot, mail_user, monkeypatch):
    # Whatever slips past the cleaning (here: the cleaning itself switched off)
    # must cost that one message, not the run: the database refuses the row.
    def unclean(value, limit=None):
        return value if isinstance(value, str) else str(value)

    monkeypatch.setattr(message_module, "storable", unclean, raising=False)
    monkeypatch.setattr(history, "storable", unclean, raising=False)
    bad = mail(EIGHT_BIT_ID, b"eight bit")
    dovecot.deliver(mail_user[0], mail(b"<first@ok.test>", b"first"))
    dovecot.deliver(mail_user[0], bad)
    dovecot.deliver(mail_user[0], mail(b"<last@ok.test>", b"last"))
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.PARTIAL, run.error
    assert "internal error" not in run.error
    assert (run.fetched, run.delivered, run.failed, run.deleted) == (3, 2, 1, 2)
    assert "could not be processed" in run.error
    assert any("not delivered, left on the server" in n for n in run.notes), run.notes
    assert dovecot.messages(mail_user[0]) == [bad]
    account.refresh_from_db()
    assert account.consecutive_failures == 0  # no back-off for one bad message

    # With the cleaning back, the next run settles it. Its copy was stored
    # before the row failed, so it is recognised by its token, not stored twice.
    monkeypatch.undo()
    again = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert again.status == Run.Status.OK, again.error
    assert (again.delivered + again.duplicates, again.deleted) == (1, 1)
    assert dovecot.messages(mail_user[0]) == []
    assert len(local_messages(account.owner)) == 3
    assert RemoteAccount.objects.get(pk=account.pk).last_status == "ok"
