"""The per-message look at earlier copies (delivery/history.earlier_copies) stays an
index lookup of its own rows however many copies the table holds, even where
PostgreSQL's statistics are behind (a table that grew fast, autovacuum late or
off): it never reads a mailbox's or the table's delivered rows one by one.

And it answers as before: served copies by token, recent copies of the key in
the mailboxes asked about, delivered copies only.
"""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from delivery import history
from delivery.models import Delivery
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

ROWS = 5000


def rows(mailbox, n, **fields):
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(mailbox=mailbox, message_key=f"mid:<{uuid.uuid4().hex}@x>",
                 token=uuid.uuid4().hex, content_digest="d", backend="maildir",
                 recipient=mailbox.address, result=Delivery.Result.DELIVERED,
                 created=now, **fields)
        for _ in range(n))


def test_it_finds_served_and_recent_copies_and_only_delivered_ones():
    box, other = make_mailbox(), make_mailbox()
    since = timezone.now() - dt.timedelta(days=1)
    common = {"backend": "maildir", "content_digest": "", "message_key": "mid:<a@x>"}
    Delivery.objects.create(mailbox=box, token="t" * 32, recipient=box.address,
                            result=Delivery.Result.DELIVERED, **{**common, "content_digest": "1"})
    Delivery.objects.create(mailbox=other, token="t" * 32, recipient=other.address,
                            result=Delivery.Result.FAILED, **common)
    Delivery.objects.create(mailbox=other, token="u" * 32, recipient=other.address,
                            result=Delivery.Result.DELIVERED, **{**common, "content_digest": "2"})
    old = Delivery.objects.create(mailbox=other, token="v" * 32, recipient=other.address,
                                  result=Delivery.Result.DELIVERED, **common)
    Delivery.objects.filter(pk=old.pk).update(created=since - dt.timedelta(days=1))

    def meaning(copies):
        return ({mailbox for mailbox, _, served, _ in copies if served},
                {(mailbox, digest) for mailbox, digest, _, recent in copies if recent})

    # box: served by this token, and a recent copy of the key; other: its failed copy
    # carries the token but served nothing, its recent copy under another token counts.
    assert meaning(history.earlier_copies("t" * 32, "mid:<a@x>", [box.pk, other.pk],
                                          since)) == ({box.pk}, {(box.pk, "1"), (other.pk, "2")})
    assert meaning(history.earlier_copies("t" * 32, "mid:<a@x>", [], since)) == ({box.pk}, set())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_on_postgresql_it_uses_the_token_and_key_indexes_with_stale_statistics():
    box = make_mailbox()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE delivery_delivery")  # statistics of an empty table
    rows(box, ROWS)  # ... which then grew fast, with no ANALYZE since
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert history.earlier_copies("t" * 32, "mid:<new@x>", [box.pk], timezone.now()) == []
    [(sql, params)] = seen
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "Seq Scan" not in plan, plan
    # The mail page's partial indexes (on delivered rows) would read a whole mailbox.
    assert "delivery_mail_" not in plan, plan
