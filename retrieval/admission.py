"""May this session start now? The admission of one session (invariant "Global cap").

`admit` decides it from the service switch, the account's session lock
(retrieval/locks.py), the global cap and the per-server limit, under the
same lock as every other admission decision (the global settings row, see
retrieval/dispatcher.py); the account model only writes the lease row it is
given. A refused start gives its claim back, and an account still owed a
session keeps its place in line.
"""

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from retrieval.dispatcher import INTERACTIVE_TRIGGERS
from retrieval.locks import session_lock
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount, Run
from retrieval.models.account import enabled_account_count, live_lease

# Why a session did not start.
SERVICE_STOPPED = "service stopped"
GONE = "account deleted"
BUSY = "another session for this account is running"
NOT_DUE = "not due any more"
NO_SLOT = "no free slot under the maximum concurrent downloads"
NO_SERVER_SLOT = "no free slot under the per-server limit"


@dataclass(frozen=True)
class Admission:
    """The answer to "may this session start?": a lease token, or why not.

    False when refused, so a caller can test it like the Run it stands in for.
    """

    token: uuid.UUID | None
    reason: str = ""

    def __bool__(self):
        return self.token is not None


def admit(account: RemoteAccount, seconds: int, trigger: str) -> Admission:
    """Let a session for `account` start, within the admin's limits, and take its lease.

    Refused when the service is stopped, another process holds the
    account's session lock (retrieval.locks), scheduled work is no longer
    due (a duplicate task), or no slot is free under the global cap or the
    per-server limit. Slots are counted from live leases; a killed worker's
    lease is freed by the next dispatcher tick, which finds its lock gone.
    The count and the take happen under one lock, the global settings row
    (SELECT ... FOR UPDATE on PostgreSQL; SQLite runs with transaction_mode
    IMMEDIATE, so the transaction already holds the database's write lock):
    two workers cannot both take the last slot. On success `account`
    holds the session lock until its release_lease.

    Every session start waits in line for that lock, so it is held for as
    few statements as possible: on PostgreSQL the account's own lock and row
    are read before it (a probe of advisory locks reads pg_locks and never
    takes one, so taking it early misleads no tick), and the runs a dead
    worker left are ended after it, under the account's own lock.
    """
    # Counted outside the lock (at most 30 s old): the automatic cap's input.
    enabled = enabled_account_count(max_age=30)
    lock = session_lock(account.pk)
    try:
        early = None
        if lock.PROBED_WITHOUT_TAKING:
            early = _account_refusal(account, now=timezone.now(), trigger=trigger, lock=lock)
        with transaction.atomic():
            gs = GlobalSettings.locked()
            now = timezone.now()
            cap = gs.effective_max_concurrent(enabled)
            why = _refusal(account, gs, cap, now, trigger, lock, early)
            dead_lease = account.lease_token is not None
            token = None if why else account.take_lease(seconds)
            if token is None:
                lock.release()
                why = why or GONE
                _give_back(account.pk, why, now, trigger)
                return Admission(None, why)
        if dead_lease:
            # With the lock ours, the run still marked running lost its worker. Without
            # a dead lease on the row there is none: every run is ended (finish_run) in
            # the transaction that clears its lease, or by the tick that frees it.
            Run.end_dead(Run.objects.filter(account_id=account.pk), now)
    except BaseException:
        lock.release()
        raise
    account.session_lock = lock
    return Admission(token)


def _refusal(account, gs, cap: int, now, trigger: str, lock, early) -> str:
    if not gs.service_running:
        return SERVICE_STOPPED
    why = early if early is not None else _account_refusal(account, now, trigger, lock)
    if why:
        return why
    # This account's own lease, if any, is a dead one we are taking over.
    live = RemoteAccount.objects.filter(live_lease(now)).exclude(pk=account.pk).aggregate(
        total=Count("pk"), here=Count("pk", filter=Q(host__iexact=account.host))
    )
    if live["total"] >= cap:
        return NO_SLOT
    if gs.max_sessions_per_host and live["here"] >= gs.max_sessions_per_host:
        return NO_SERVER_SLOT
    return ""


def _account_refusal(account, now, trigger: str, lock) -> str:
    """Why this account may not start whatever the limits ("" if it may); takes
    its session lock when it may."""
    # The lock, not the lease row, says whether a session is alive: a
    # lease left by a killed worker is taken over at once.
    if not lock.acquire():
        return BUSY
    # Read with the lock held: a session that ran just before wrote its next
    # check before it let go.
    row = (RemoteAccount.objects.filter(pk=account.pk)
           .values("enabled", "next_check", "lease_token").first())
    if row is None:
        return GONE
    # A lease on the row now, with the lock free, is a dead worker's: admit ends its run.
    account.lease_token = row["lease_token"]
    if trigger == Run.Trigger.SCHEDULE and (
        not row["enabled"] or (row["next_check"] and row["next_check"] > now)
    ):
        return NOT_DUE
    return ""


def _give_back(pk: int, why: str, now, trigger: str):
    """Drop the claim; an account still owed a session keeps its place in line."""
    AccountClaim.objects.filter(account_id=pk).delete()
    row = RemoteAccount.objects.filter(pk=pk)
    if why in (BUSY, NOT_DUE, GONE):
        # The running (or just finished) session is the check that was asked for.
        row.update(pending_trigger="")
    elif trigger in INTERACTIVE_TRIGGERS:
        # Served first by the next dispatcher tick, with the same trigger.
        row.update(pending_trigger=trigger)
        row.filter(Q(next_check__isnull=True) | Q(next_check__gt=now)).update(next_check=now)
    # Scheduled work keeps its next_check, in the past: it stays first in line.
