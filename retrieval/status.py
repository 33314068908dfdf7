"""How a finished run updates the account's visible status and next check."""

import datetime as dt

from django.utils import timezone

from popadmin.text import storable
from retrieval import history
from retrieval.models import HourlyStats, RemoteAccount, Run

# Repeated failures lengthen the poll interval, up to this cap.
MAX_BACKOFF = dt.timedelta(hours=6)
# Each account's next check moves by its own share of up to 10% of the
# interval, at most this much, so thousands of accounts created (or failed)
# together do not all come due in the same second.
MAX_JITTER = dt.timedelta(minutes=5)
_JITTER_STEPS = 10_000


def poll_interval(account, knobs) -> dt.timedelta:
    # The account's own frequency, else the owner's, else the global one
    # (knobs already merge the last two).
    return dt.timedelta(minutes=account.poll_minutes or knobs.poll_minutes)


def jitter(account_pk: int, interval: dt.timedelta) -> dt.timedelta:
    """The account's fixed share of [0, min(10% of interval, MAX_JITTER)).

    Fixed per account (a multiplicative hash of its id) rather than random:
    accounts keep distinct phases forever, and a doubled interval doubles the
    jitter exactly, so backoff stays exact. Integer arithmetic on timedeltas
    (whole microseconds) keeps it exact too.
    """
    share = (account_pk * 2654435761) % _JITTER_STEPS
    return min(interval * share // (_JITTER_STEPS * 10), MAX_JITTER * share // _JITTER_STEPS)


def finish_run(account, run, knobs):
    now = timezone.now()
    run.finished = now
    run.error = storable(run.error)  # may quote a server's reply (NUL, 8-bit bytes)
    if run.error:
        run.status = Run.Status.ERROR
    elif run.failed:
        run.status = Run.Status.PARTIAL
        # The first reason in the run's notes says why, e.g. "mailbox full".
        reason = next((n for n in run.notes if "not delivered" in n), "")
        run.error = f"{run.failed} message(s) could not be delivered and stay on the server"
        run.error += f"; {reason}" if reason else ""
    else:
        run.status = Run.Status.OK
    # An unattended empty poll's row goes (history.py); its hour and the
    # account's status below still record it.
    if not history.discard_if_empty(run):
        run.save()
    HourlyStats.record(
        status=run.status, when=now, messages=run.fetched, delivered=run.delivered,
        failed=run.failed, bytes=run.bytes, seconds=(now - run.started).total_seconds(),
        empty=run.status == Run.Status.OK and not run.fetched and not run.deleted,
    )

    account.refresh_from_db(fields=["consecutive_failures", "failing_since"])
    interval = poll_interval(account, knobs)
    if run.status == Run.Status.ERROR:
        failures = account.consecutive_failures + 1
        failing_since = account.failing_since or run.started
        interval = min(interval * 2 ** min(failures - 1, 10), max(MAX_BACKOFF, interval))
    else:
        failures, failing_since = 0, None
    next_check = now + interval + jitter(account.pk, interval)
    if getattr(run, "stopped_early", False):
        # The service was stopped mid-session: the rest of the mailbox is due
        # as soon as it runs again (the dispatcher admits nothing until then).
        next_check = now
    RemoteAccount.objects.filter(pk=account.pk).update(
        last_check=now,
        last_status=run.status,
        last_error=run.error,
        next_check=next_check,
        consecutive_failures=failures,
        failing_since=failing_since,
    )


def reap_stale_runs() -> int:
    """End runs whose worker died: their lease is gone or belongs to a newer run."""
    now = timezone.now()
    reaped = 0
    for run in Run.objects.filter(status=Run.Status.RUNNING).select_related("account"):
        account = run.account
        alive = account.lease_token == run.lease_token and (
            account.lease_expires is not None and account.lease_expires > now
        )
        if alive:
            continue
        updated = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
            status=Run.Status.ERROR,
            finished=now,
            error="the worker running this session stopped unexpectedly (killed or crashed); "
            "mail not yet delivered is still on the server",
        )
        reaped += updated
    return reaped
