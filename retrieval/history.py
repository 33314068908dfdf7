"""Retrieval history: what a run keeps of its account, which runs are kept, and
the summary a run's page shows (the admin's Run page and /history/runs/<id>/)."""

import os
import socket

from django.db import connection
from django.db.models import Count
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from delivery.models import Delivery
from retrieval.models import Run

# Automatic checks that found nothing leave no row of their own (HourlyStats
# counts them, the account shows its last check). Checks a person started
# keep theirs: the page that started them follows that row to its end.
UNATTENDED_TRIGGERS = (Run.Trigger.SCHEDULE, Run.Trigger.LOGIN, Run.Trigger.PUSH)

# Deliveries listed on a run's page; a huge run says how many more there are.
DELIVERIES_SHOWN = 500


def label(account) -> str:
    """The account's name as history keeps it."""
    return (account.name or f"{account.username}@{account.host} "
                             f"({account.get_protocol_display()})")[:400]


def worker_id() -> str:
    """The process running a session, as "host:pid": enough to find its log.
    Asked each time: Celery's pool processes are forks with their own pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_empty_poll(run) -> bool:
    """Nothing new, no error, nothing deleted, nothing worth a note."""
    # Notes that only repeat messages left on the server (retrieval/refusals.py)
    # are not news: the account pages and an alert keep saying so.
    news = len(run.notes) > getattr(run, "standing_notes", 0)
    return (run.status == Run.Status.OK and not run.fetched and not run.deleted
            and not news and not getattr(run, "stopped_early", False))


def discard_if_empty(run) -> bool:
    """Delete the row of an unattended empty poll; True if it is gone.

    The row existed while the session ran, so its progress was visible and a
    dead worker's run was reaped like any other; only a clean, empty end
    removes it.
    """
    if run.trigger not in UNATTENDED_TRIGGERS or not is_empty_poll(run):
        return False
    # One statement, not the ORM's three (it would look for deliveries to
    # unlink): an empty poll fetched nothing, so none points at it.
    runs, deliveries = (connection.ops.quote_name(m._meta.db_table) for m in (Run, Delivery))
    # Only quoted table names are formatted in.
    sql = (f"DELETE FROM {runs} WHERE id = %s "  # noqa: S608
           f"AND NOT EXISTS (SELECT 1 FROM {deliveries} WHERE run_id = %s)")
    with connection.cursor() as cursor:
        cursor.execute(sql, [run.pk, run.pk])
        if cursor.rowcount == 1:
            return True
    Run.objects.filter(pk=run.pk).delete()
    return True


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _admin_url(name: str, pk) -> str:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return ""


def run_summary(run, now=None) -> dict:
    """Context for templates/retrieval/run_summary.html."""
    now = now or timezone.now()
    account = run.account
    end = run.finished or now
    deliveries = run.deliveries.select_related("mailbox").order_by("created", "pk")
    results = dict(deliveries.order_by().values_list("result").annotate(n=Count("pk")))
    total = sum(results.values())
    return {
        "run": run,
        "label": run.account_label or str(account),
        "account_now": str(account),
        "renamed": bool(run.account_label) and run.account_label != label(account),
        "account_url": _admin_url("admin:retrieval_remoteaccount_change", account.pk),
        "owner": account.owner,
        "owner_url": _admin_url("admin:accounts_mailbox_change", account.owner_id),
        "duration": human_duration((end - run.started).total_seconds()),
        "still_running": run.finished is None,
        "size": filesizeformat(run.bytes),
        "retry": run.retry_state(now),
        "deliveries": list(deliveries[:DELIVERIES_SHOWN]),
        "deliveries_total": total,
        "deliveries_more": max(0, total - DELIVERIES_SHOWN),
        "results": results,
    }
