"""A fetch task queued for an account: the dispatcher's claim (retrieval/dispatcher.py).

A row of its own, not a column of the account: a tick claims thousands of
accounts, and an update of the wide account row writes every one of its
indexes (the claim's own index makes no update of it HOT). Here a claim is
one narrow row with two small indexes, written for the whole tick by one
INSERT ... ON CONFLICT (AccountClaim.write).

A claim is a time, not a flag: while `until` is ahead no other dispatch or
request queues the account again. It names its task (`task_id`) and, once a
worker has received the task, that worker (`worker`, its node name): a
claim whose task is lost (the broker restarted, the publish failed, the
worker that held it died or dropped it) is found and released by the next
dispatcher tick (retrieval/lost_claims.py), long before `until`. The session
start (RemoteAccount.take_lease) and a refused start (admission._give_back)
delete it; an expired row left behind means nothing and is overwritten by
the next claim.
"""

import datetime as dt

from django.db import connection, models

# The ids go as one array: building a model and a placeholder per row
# (bulk_create) took longer than the insert itself, 70 of 105 ms for 3,600.
# Each claim runs out one microsecond after the one queued before it, so that
# the claims of one batch keep the order their tasks were queued in.
_WRITE_PG = """
INSERT INTO {table} (account_id, task_id, worker, until)
SELECT claimed.pk, claimed.tid, '', %s + (claimed.n - 1) * interval '1 microsecond'
FROM unnest(%s::bigint[], %s::varchar[]) WITH ORDINALITY AS claimed(pk, tid, n)
ON CONFLICT (account_id) DO UPDATE
SET until = EXCLUDED.until, task_id = EXCLUDED.task_id, worker = ''
"""


class AccountClaim(models.Model):
    account = models.OneToOneField(
        "retrieval.RemoteAccount",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="claim",
    )
    # Also the line: claims run out in the order their tasks were queued, one
    # microsecond apart within a batch (write; account_card._ahead).
    until = models.DateTimeField(db_index=True)
    # The Celery task queued for it (the worker that receives it marks the claim).
    task_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # The node name of the worker holding the task, received but not started;
    # empty while the task waits in the broker.
    worker = models.CharField(max_length=255, blank=True, default="")

    def __str__(self):
        return f"account {self.account_id} claimed until {self.until:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def write(cls, pks: list[int], until, task_ids: dict | None = None):
        """Claim these accounts until `until`, over any claim they had (an expired
        one: a live claim keeps an account from being picked); `task_ids`:
        {account id: the id of the task about to be queued for it}. `pks` in the
        order their tasks are queued: the n-th claim runs out n-1 microseconds
        after `until`, which is the line the account cards show."""
        if not pks:
            return
        task_ids = task_ids or {}
        ids = [task_ids.get(pk, "") for pk in pks]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(cls._meta.db_table)
                cursor.execute(_WRITE_PG.format(table=table), [until, pks, ids])
            return
        # bulk_create splits the statement into batches under SQLite's parameter limit.
        cls.objects.bulk_create(
            [cls(account_id=pk, until=until + dt.timedelta(microseconds=n), task_id=tid)
             for n, (pk, tid) in enumerate(zip(pks, ids, strict=True))],
            update_conflicts=True,
            unique_fields=["account"],
            update_fields=["until", "task_id", "worker"],
        )
