"""SQL per message (issue 12): a message's Delivery row joins its group's one
INSERT (an executemany), and the served/duplicate lookups are one query per message."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from retrieval import engine
from retrieval.models import GlobalSettings, Run
from tests.factories import local_messages, make_account

pytestmark = pytest.mark.django_db


def statements(queries, prefix):
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith(prefix)]


def test_delivery_rows_go_in_with_their_group_not_one_insert_each(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 40)
    account = make_account(dovecot, *mail_user)

    with CaptureQueriesContext(connection) as queries:
        run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.fetched, run.delivered, run.deleted) == (40, 40, 40), run.error
    # One executemany per group (logged as "40 times: INSERT INTO ...").
    inserts = [q["sql"] for q in queries.captured_queries
               if 'INSERT INTO "delivery_delivery"' in q["sql"]]
    assert 1 <= len(inserts) < 5
    assert run.deliveries.count() == 40


def test_one_lookup_per_read_ahead_with_the_duplicate_check_on(dovecot, mail_user):
    settings = GlobalSettings.load()
    settings.duplicate_check = True
    settings.save()
    dovecot.deliver_many(mail_user[0], 20)
    account = make_account(dovecot, *mail_user)

    with CaptureQueriesContext(connection) as queries:
        run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 20, run.error
    # The first message and the 16 read ahead of it, then the last and the 2 after
    # it: one query each for the served mailboxes and the duplicates of all of them
    # (retrieval/read_ahead.py), where it was two queries a message, then one.
    lookups = [sql for sql in statements(queries, "SELECT") if "FROM \"delivery_delivery\"" in sql]
    assert len(lookups) == 2, lookups[:3]


def test_a_duplicate_from_another_account_is_found_by_the_one_lookup(dovecot, mail_user):
    settings = GlobalSettings.load()
    settings.duplicate_check = True
    settings.save()
    mail = b"From: a@out.test\nMessage-ID: <same@out.test>\nSubject: s\n\nsame body\n"
    other = dovecot.add_user()
    dovecot.deliver(mail_user[0], mail)
    dovecot.deliver(other[0], mail)
    first = make_account(dovecot, *mail_user)
    second = make_account(dovecot, *other, owner=first.owner)

    one = engine.run_account(first.pk, Run.Trigger.MANUAL)
    two = engine.run_account(second.pk, Run.Trigger.MANUAL)

    assert (one.delivered, two.delivered, two.duplicates) == (1, 0, 1), (one.error, two.error)
    assert len(local_messages(first.owner)) == 1
