"""popadmin/rows.py: the group's rows in one executemany, stored as bulk_create would."""

import datetime as dt

import pytest
from auditlog.models import LogEntry
from django.db import IntegrityError, transaction

from delivery.models import Delivery
from popadmin import rows
from retrieval.models import RemoteAccount, SeenMessage
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def test_rows_come_back_as_written_with_database_defaults_filled_in():
    mailbox = make_mailbox()
    sent = dt.datetime(2026, 3, 1, 12, 30, 5, 123000, tzinfo=dt.UTC)
    # sender, subject, content_digest and remote_uid are left to their db_default.
    row = Delivery(mailbox=mailbox, message_key="mid:abc", message_id="<a@b>", sent=sent,
                   folder="INBOX", result=Delivery.Result.DELIVERED, size=123456789012,
                   recipient=mailbox.address, token="t" * 32, detail="stored ✓")

    rows.insert(Delivery, [row])

    stored = Delivery.objects.get()
    assert (stored.sent, stored.size, stored.detail, stored.token) == (
        sent, 123456789012, "stored ✓", "t" * 32)
    assert (stored.sender, stored.subject, stored.content_digest, stored.remote_uid) == (
        "", "", "", "")
    assert stored.created == row.created and stored.run_id is None
    assert stored.mailbox_id == mailbox.pk


def test_conflicts_are_left_out_only_when_asked():
    account = RemoteAccount(owner=make_mailbox(), host="pop.example.test", username="u")
    account.set_password("secret")
    account.save()
    seen = [SeenMessage(account=account, uid=uid, message_key="k") for uid in ("1", "2", "1")]

    rows.insert(SeenMessage, seen, ignore_conflicts=True)

    assert sorted(SeenMessage.objects.values_list("uid", flat=True)) == ["1", "2"]
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert(SeenMessage, [SeenMessage(account=account, uid="2")])


def test_no_rows_is_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        rows.insert(Delivery, [])


def test_a_model_with_fields_it_cannot_write_is_refused():
    with pytest.raises(TypeError):
        rows.insert(LogEntry, [LogEntry(object_repr="x", action=0)])


def test_a_new_row_has_every_default_an_instance_would_have():
    mailbox = make_mailbox()

    row = rows.new(Delivery, mailbox_id=mailbox.pk, message_key="mid:x",
                   result=Delivery.Result.FAILED)
    rows.insert(Delivery, [row])

    stored = Delivery.objects.get()
    assert (stored.mailbox_id, stored.result, stored.backend, stored.detail, stored.size) == (
        mailbox.pk, "failed", "maildir", "", 0)
    assert (stored.sender, stored.remote_uid, stored.run_id, stored.sent) == ("", "", None, None)
    assert stored.created == row.created


def test_a_new_row_with_a_field_the_model_lacks_is_refused():
    with pytest.raises(TypeError, match="no field"):
        rows.new(Delivery, mailbox=make_mailbox())  # the attname is mailbox_id
