"""Pruning old retrieval history in short batches; hourly totals (HourlyStats) stay.

Each batch is one short statement in its own transaction, so a backlog of
millions of rows (retention shortened, or pruning off for months) never
holds a long lock: sessions writing runs and deliveries go on between batches.
"""

import datetime as dt
import time

from django.db.models import Exists, OuterRef
from django.utils import timezone

from delivery.dedupe import RECENT
from delivery.models import Delivery
from retrieval import unread_by_account
from retrieval.models import GlobalSettings, Run

BATCH = 1000


def cutoff(days: int, now=None) -> dt.datetime:
    # Never inside the duplicate check's window, whatever the setting says.
    return (now or timezone.now()) - max(dt.timedelta(days=days), RECENT + dt.timedelta(days=1))


def prune_history(now=None, batch: int = BATCH, max_seconds: float = 240) -> dict:
    """Delete runs and deliveries older than the retention period.

    Stops after `max_seconds` (the next periodic run goes on) so one task
    never occupies a worker for long. Returns the counts deleted.
    """
    limit = cutoff(GlobalSettings.load().history_days, now)
    deadline = time.monotonic() + max_seconds
    counts = {"deliveries": 0, "runs": 0}
    for name, rows in (("deliveries", _old_deliveries(limit)), ("runs", _old_runs(limit))):
        while time.monotonic() < deadline:
            ids = list(rows.values_list("pk", flat=True)[:batch])
            if not ids:
                break
            counts[name] += rows.model.objects.filter(pk__in=ids).delete()[1].get(
                rows.model._meta.label, 0)
            if name == "deliveries":
                unread_by_account.records_pruned()  # the mail page's kept maps are stale
    return counts


def _old_deliveries(limit):
    # A message still being retried (a newer row with its token) keeps its old
    # rows: they tell the router which mailboxes already have their copy.
    retried = Delivery.objects.filter(token=OuterRef("token"), created__gte=limit)
    return (Delivery.objects.filter(created__lt=limit)
            .exclude(Exists(retried.exclude(token=""))).order_by())


def _old_runs(limit):
    return Run.objects.filter(started__lt=limit).exclude(status=Run.Status.RUNNING).order_by()
