"""How a finished run updates the account's visible status and next check."""

import datetime as dt

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from popadmin.text import storable
from retrieval import history, locks, push_schedule
from retrieval.models import FolderMark, GlobalSettings, HourlyStats, RemoteAccount, Run

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


def finish_run(account, run, knobs, token=None):
    """End the run: its status, history row, hour's totals and the account's
    status and next check, in one transaction (one commit to wait for, not
    one per statement). With `token`, the session's lease is cleared in it
    too (account.release_lease then only lets go of the lock)."""
    now = timezone.now()
    run.finished = now
    run.error = storable(run.error)  # may quote a server's reply (NUL, 8-bit bytes)
    if run.error:
        run.status = Run.Status.ERROR
    elif run.failed:
        run.status = Run.Status.PARTIAL
        # The delivery failure the engine kept (a full mailbox first), never a
        # catch-all note (loop, recipient cap) that only mentions "not delivered".
        reason = run.__dict__.get("first_failure", "")
        run.error = f"{run.failed} message(s) could not be delivered and stay on the server"
        run.error += f"; {reason}" if reason else ""
    else:
        run.status = Run.Status.OK
    interval = poll_interval(account, knobs)
    with transaction.atomic():
        # An unattended empty poll's row goes (history.py); its hour and the
        # account's status below still record it.
        counted = False
        if not history.discard_if_empty(run):
            counted = _save_ended(run)
        if not counted:
            HourlyStats.record(
                status=run.status, when=now, messages=run.fetched, delivered=run.delivered,
                failed=run.failed, bytes=run.bytes, seconds=(now - run.started).total_seconds(),
                empty=run.status == Run.Status.OK and not run.fetched and not run.deleted,
            )
        if run.status == Run.Status.ERROR:
            account.refresh_from_db(fields=["consecutive_failures", "failing_since"])
            failures = account.consecutive_failures + 1
            failing_since = account.failing_since or run.started
            interval = min(interval * 2 ** min(failures - 1, 10), max(MAX_BACKOFF, interval))
        else:
            failures, failing_since = 0, None
            interval = push_schedule.safety_interval(account, interval, now)
        next_check = now + interval + jitter(account.pk, interval)
        if getattr(run, "stopped_early", False):
            # The service was stopped mid-session: the rest of the mailbox is due
            # as soon as it runs again (the dispatcher admits nothing until then).
            next_check = now
        lease = {}
        if token is not None:
            # The lease goes in the same statement, if it is still this session's.
            mine = When(lease_token=token, then=Value(None))
            lease = {"lease_token": Case(mine, default=F("lease_token")),
                     "lease_expires": Case(mine, default=F("lease_expires"))}
        RemoteAccount.objects.filter(pk=account.pk).update(
            last_check=now,
            last_status=run.status,
            last_error=run.error,
            last_error_kind=run.reason_kind(),
            next_check=next_check,
            consecutive_failures=failures,
            failing_since=failing_since,
            **lease,
        )
        if token is not None:
            account.lease_cleared(token)


def _save_ended(run) -> bool:
    """Write the finished run; True if the dead-session cleanup had already ended
    it (Run.end_dead), and so counted it in its hour's totals.

    The session's own account of how it ended replaces the cleanup's guess
    (e.g. its lock connection dropped, the worker did not die), but the run
    counts once. One statement, like save(), while nobody else ended it.
    """
    fields = {f.attname: getattr(run, f.attname) for f in Run._meta.concrete_fields
              if not f.primary_key}
    if Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(**fields):
        return False
    ended_by_cleanup = Run.objects.filter(pk=run.pk).exists()
    run.save()
    return ended_by_cleanup


def free_dead_leases() -> int:
    """Free at once the accounts whose session holder died, and end its run;
    returns the number of runs ended.

    A lease is dead when nobody holds its session lock (retrieval.locks),
    whatever its expiry says: the worker was killed, or crashed. Call with
    the admission lock held (GlobalSettings.locked()), which every session
    start also holds while it takes its lock, so a probe never mistakes a
    session being started for a dead one, nor refuses it.
    """
    leased = dict(
        RemoteAccount.objects.filter(lease_token__isnull=False).values_list("pk", "lease_token")
    )
    alive = locks.held(leased)
    now = timezone.now()
    ended = 0
    for pk, token in leased.items():
        if pk in alive:
            continue
        # Conditional on the token: a session that just ended cleanly keeps its row as it left it.
        RemoteAccount.objects.filter(pk=pk, lease_token=token).update(
            lease_token=None, lease_expires=None
        )
        ended += Run.end_dead(Run.objects.filter(account_id=pk, lease_token=token), now)
    return ended


def reap_stale_runs() -> int:
    """End runs whose worker died: their lock is gone, or their lease belongs to another run."""
    with transaction.atomic():
        GlobalSettings.locked()
        reaped = free_dead_leases()
    for run in Run.objects.filter(status=Run.Status.RUNNING).select_related("account"):
        if run.account.lease_token == run.lease_token:
            continue  # its lock is held (checked above): the session is alive
        reaped += Run.end_dead(Run.objects.filter(pk=run.pk))
    return reaped


def reset_after_edit(account):
    """A changed account starts afresh: no back-off, due at the dispatcher's next tick.

    The old failures were about the old settings; keeping the back-off would
    leave a fixed account waiting hours for its next check. The cheap check's
    folder marks go too: a message the old settings left alone (over the
    size limit, say) is below the mark, and only a fetch would find it now.
    """
    now = timezone.now()
    FolderMark.objects.filter(account_id=account.pk).delete()
    RemoteAccount.objects.filter(pk=account.pk).update(
        consecutive_failures=0, failing_since=None, next_check=now
    )
    account.consecutive_failures, account.failing_since, account.next_check = 0, None, now
