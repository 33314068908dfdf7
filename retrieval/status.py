"""How a finished run updates the account's visible status and next check."""

import datetime as dt

from django.utils import timezone

from retrieval.models import RemoteAccount, Run

# Repeated failures lengthen the poll interval, up to this cap.
MAX_BACKOFF = dt.timedelta(hours=6)


def poll_interval(account, knobs) -> dt.timedelta:
    return dt.timedelta(minutes=account.poll_minutes or knobs.poll_minutes)


def finish_run(account, run, knobs):
    now = timezone.now()
    run.finished = now
    if run.error:
        run.status = Run.Status.ERROR
    elif run.failed:
        run.status = Run.Status.PARTIAL
        run.error = f"{run.failed} message(s) could not be delivered and stay on the server"
    else:
        run.status = Run.Status.OK
    run.save()

    account.refresh_from_db(fields=["consecutive_failures", "failing_since"])
    interval = poll_interval(account, knobs)
    if run.status == Run.Status.ERROR:
        failures = account.consecutive_failures + 1
        failing_since = account.failing_since or run.started
        interval = min(interval * 2 ** min(failures - 1, 10), max(MAX_BACKOFF, interval))
    else:
        failures, failing_since = 0, None
    RemoteAccount.objects.filter(pk=account.pk).update(
        last_check=now,
        last_status=run.status,
        last_error=run.error,
        next_check=now + interval,
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
