"""Thin Celery tasks: take ids, call a service, safe to run twice."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from retrieval import (
    alerts,
    check_batch,
    dispatcher,
    engine,
    lost_connection,
    push,
    retention,
    status,
    worker_warmup,  # noqa: F401  (its signal handlers warm the pool processes)
)

log = logging.getLogger(__name__)

# Only errors that a later attempt can fix: the database restarting or a
# dropped connection. Everything else ends as a readable Run row instead.
TRANSIENT = (OperationalError, InterfaceError)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def fetch_account(account_id: int, trigger: str = "schedule"):
    # Running twice is safe: the lease admits one session, a scheduled task
    # that is no longer due is refused, and seen-state makes a second session
    # fetch nothing already delivered.
    since = timezone.now()
    try:
        run = engine.run_account(account_id, trigger)
    except TRANSIENT:
        # The database went away mid-session: its run is not a dead worker's.
        lost_connection.explain_later(account_id, since)
        raise
    if not run:
        return None  # refused (admission.admit): the account stays in line or is served
    push.after_session(account_id, run)
    refill()
    return run.pk


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def check_accounts(account_ids: list[int]):
    # Running twice is safe: an account checked already is no longer due, and
    # one a session holds is refused (check_batch._admit).
    summary = check_batch.check_batch(account_ids)
    try:
        # A batch frees many slots at once: while accounts wait, up to a batch's
        # worth is handed on now rather than at the next tick (a refill: no
        # broker look or lease sweep, which the tick does).
        if (summary.empty or summary.fetch) and dispatcher.refill_wanted():
            dispatcher.dispatch(refill=True, most=max(len(account_ids), dispatcher.REFILL_MAX))
    except TRANSIENT:
        log.warning("could not refill after a check batch; the next tick will", exc_info=True)
    return len(summary.empty)


def refill():
    """Hand the slot this session just freed to the next account in line, if
    the cap binds (dispatcher.dispatch). Best effort: the next tick does the
    same, and a failure here must not retry the session."""
    try:
        if dispatcher.refill_wanted():
            dispatcher.dispatch(refill=True)
    except TRANSIENT:
        log.warning("could not refill a slot; the next dispatcher tick will", exc_info=True)


@shared_task(ignore_result=True)
def dispatch_due():
    # No retry: beat sends the next tick in seconds, and a late tick expires.
    return dispatcher.dispatch()


@shared_task(ignore_result=True)
def reap_stale_runs():
    return status.reap_stale_runs()


@shared_task(ignore_result=True)
def prune_history():
    return retention.prune_history()


@shared_task(ignore_result=True)
def evaluate_alerts():
    return alerts.evaluate(heartbeats=alerts.heartbeat_pairs())


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router (CELERY_TASK_ROUTES): what a person waits for goes to the
    interactive queue, so it never waits behind a backlog of scheduled checks.

    The dispatcher's own ticks go there too: a tick stuck behind the work it
    dispatched would expire unread. An explicit queue= at send time wins.
    """
    if name == dispatcher.FETCH_TASK:
        trigger = args[1] if args and len(args) > 1 else (kwargs or {}).get("trigger", "schedule")
        return {"queue": dispatcher.queue_for(trigger)}
    if name in ("retrieval.tasks.dispatch_due", "retrieval.tasks.reap_stale_runs",
                "retrieval.tasks.evaluate_alerts"):
        return {"queue": dispatcher.INTERACTIVE_QUEUE}
    return None
