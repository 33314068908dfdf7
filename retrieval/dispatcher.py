"""Who is due, and who may start: every admission decision (invariant "Global cap").

Beat runs `dispatch` every few seconds. It claims due accounts, longest
waiting first, within the free slots of the global cap and the per-server
limit, and queues scheduled ones in batches to the cheap check
(retrieval/check_batch.py, which hands on the accounts with something to
do) and the others as one fetch task per account. `request_check` queues checks
someone asked for (admin "Check now", the user page, login), ahead of
scheduled work and coalesced with a check already queued, running or just
done.

Whether a session may start now is retrieval/admission.py's `admit`.
Every admission decision (a dispatch tick, a request, a session start) is
made under one lock, the global settings row,
so two dispatchers never claim the same account or the same slot. A claim is
a time (an AccountClaim row, retrieval/models/claim.py), not a flag: when the
broker loses the task the account is simply due again once the claim runs out. The cap is counted
twice: here with queued claims, so the queue never holds more than the cap,
and strictly at session start, from live leases only. Each tick first frees
the leases whose holder died (its session lock is gone, retrieval/locks.py),
so a killed worker's accounts and slots are free again within one tick, and
releases the claims whose task is lost (retrieval/lost_claims.py), so a
broker restart or a killed worker's prefetched tasks stall nothing for
longer than a tick or two. A task that cannot be published releases its
claim at once (publish).
"""

import datetime as dt
import logging
import uuid
from collections import Counter
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from retrieval import due_scan, lost_claims, publishing, push_schedule
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount, Run
from retrieval.models.account import enabled_account_count, in_flight, live_claim, live_lease
from retrieval.status import free_dead_leases

log = logging.getLogger(__name__)

# The Celery task that runs one session (retrieval/tasks.py).
FETCH_TASK = "retrieval.tasks.fetch_account"
# The Celery task that checks a batch of scheduled accounts (retrieval/check_batch.py).
CHECK_TASK = "retrieval.tasks.check_accounts"
# The dispatcher tick beat sends (retrieval/tasks.py, popadmin/schedule.py).
TICK_TASK = "retrieval.tasks.dispatch_due"

# A check asked for this soon after the last one finished is coalesced with it.
COOLDOWN = dt.timedelta(seconds=30)
# Celery queues: checks a person waits for (and the dispatcher's own ticks)
# never queue behind scheduled work. Workers consume both.
INTERACTIVE_QUEUE = "interactive"
SCHEDULE_QUEUE = "celery"
# Rows per query, so a huge id list stays under SQLite's parameter limit.
_CHUNK = 500
# Accounts a finished session may hand its slot on to (see dispatch).
REFILL_MAX = 4

# Checks a person asked for: they go ahead of scheduled work.
# Push (new mail a watcher saw) is waited for too, by whoever it was sent to.
INTERACTIVE_TRIGGERS = ("manual", "login", "admin", "push")


def _celery():
    # Imported at the first send: a command that sends nothing starts without Celery.
    from popadmin.celery import app

    return app


def queue_for(trigger: str) -> str:
    return INTERACTIVE_QUEUE if trigger in INTERACTIVE_TRIGGERS else SCHEDULE_QUEUE


def claim_hold() -> dt.timedelta:
    # How long a queued task may wait before its account is dispatched again.
    return dt.timedelta(seconds=settings.POPADMIN_CLAIM_HOLD_SECONDS)


def enqueue_fetch(pk: int, trigger: str, task_id: str | None = None):
    # By name: the tasks call the dispatcher, so it does not import them back.
    _celery().send_task(FETCH_TASK, (pk, trigger), queue=queue_for(trigger), task_id=task_id)


def publish(batch, enqueue=None) -> int:
    """Queue the tasks of claims just committed, [(pk, trigger, task id)]
    (retrieval/publishing.py); `enqueue(pk, trigger)` instead of the Celery
    send, for the tests and the bench."""
    if enqueue is None:
        # Looked up at each call, so that a test may replace enqueue_fetch.
        return publishing.publish(batch, lambda pk, trigger, tid: enqueue_fetch(pk, trigger, tid))
    return publishing.publish(batch, lambda pk, trigger, tid: enqueue(pk, trigger))


class _TaskIds(dict):
    """{account id: its task's id}; `checked`: the accounts queued in a check batch."""

    checked: frozenset = frozenset()


def _task_ids(pks) -> dict:
    return _TaskIds((pk, str(uuid.uuid4())) for pk in pks)


def _check_batches(picked, ids: _TaskIds) -> list[tuple[list[int], str]]:
    """Scheduled accounts go to cheap checks (retrieval/check_batch.py), up to
    POPADMIN_CHECK_BATCH per task, each batch's claims naming its one task;
    requests a person waits for go straight to a fetch."""
    size = settings.POPADMIN_CHECK_BATCH
    scheduled = [pk for pk, trigger in picked if trigger == Run.Trigger.SCHEDULE]
    if size <= 0 or not scheduled:
        return []
    batches = []
    for start in range(0, len(scheduled), size):
        pks = scheduled[start : start + size]
        task_id = str(uuid.uuid4())
        ids.update(dict.fromkeys(pks, task_id))
        batches.append((pks, task_id))
    ids.checked = frozenset(scheduled)
    return batches


def enqueue_check(pks: list[int], task_id: str):
    _celery().send_task(CHECK_TASK, (pks,), queue=SCHEDULE_QUEUE, task_id=task_id)


def dispatch_soon():
    """One tick now rather than at beat's next one: when the service is switched
    on, the accounts that fell due while it was stopped start at once. Sent after
    the switch commits, so the tick sees it; best effort, as beat ticks anyway."""
    def send():
        try:
            _celery().send_task(TICK_TASK, queue=INTERACTIVE_QUEUE,
                                 expires=settings.POPADMIN_DISPATCH_SECONDS)
        except Exception:  # the broker is away: beat's next tick does the same
            log.warning("could not send a dispatcher tick; beat's next one will", exc_info=True)

    transaction.on_commit(send)


def dispatch(enqueue=None, refill: bool = False, most: int = REFILL_MAX) -> list[int]:
    """Claim due accounts, requests first then longest waiting, and queue each.

    `enqueue(pk, trigger)` runs after the claims commit; the default sends the
    Celery task. Returns the claimed ids in the order they were queued.

    `refill` is a finished session handing on its slot (tasks.fetch_account):
    a few accounts at most, and only while the last tick left due accounts
    waiting for lack of slots (the cap binds). Without it a slot freed
    between two ticks would idle until the next, and a small cap could never
    be used in full; with slots to spare the tick alone is enough, and an
    idle system (or a test without beat) never dispatches by itself. It
    counts servers' sessions one host at a time, so that it stays cheap while
    holding the lock once per finished session. `most`: how many a refill
    may claim (a cheap-check batch frees up to a batch's worth of slots).
    """
    # Counted before taking the lock: session starts wait for the tick.
    enabled = enabled_account_count(max_age=30 if refill else 0, max_age_when_large=30)
    queued = None if refill else lost_claims.broker_snapshot(timezone.now(), claim_hold())
    with transaction.atomic():
        gs = GlobalSettings.locked()
        if not gs.service_running or (refill and not gs.dispatch_backlog):
            return []
        now = timezone.now()
        if not refill:
            # A killed worker's accounts are free again within one tick, and
            # so are the claims whose task is lost.
            free_dead_leases()
            lost_claims.release(now, claim_hold(), queued)
            # A dead watcher's accounts are polled again until another takes them.
            push_schedule.lapse_dead_watches(now)
        parts = in_flight(now)
        if refill:
            busy = _HostLoad(parts)
            taken = sum(part.count() for part in parts)
            slots = min(gs.effective_max_concurrent(enabled) - taken, most)
        else:
            # An account never checked has been waiting since it was created;
            # a real time keeps the due scan on its index (no IS NULL branch).
            RemoteAccount.objects.filter(next_check__isnull=True).update(next_check=F("created"))
            busy = Counter(
                host.lower() for part in parts for host in part.values_list("host", flat=True)
            )
            slots = gs.effective_max_concurrent(enabled) - sum(busy.values())
        picked = []
        if slots > 0:
            free = (
                RemoteAccount.objects.filter(enabled=True)
                .exclude(live_lease(now))
                .exclude(live_claim(now))
            )
            limit, pages = gs.max_sessions_per_host, 1 if refill else 0
            picked = _pick(free.exclude(pending_trigger=""), slots, busy, limit, pages)
            if limit and not refill and due_scan.usable():
                picked += _pick_per_server(now, slots - len(picked), busy, limit)
            else:
                picked += _pick(free.filter(pending_trigger="", next_check__lte=now),
                                slots - len(picked), busy, limit, pages)
            ids = _task_ids(pk for pk, _ in picked)
            checks = _check_batches(picked, ids) if enqueue is None else []
            _claim([pk for pk, _ in picked], now, {}, ids)
            fetches = [(pk, trigger, ids[pk]) for pk, trigger in picked if pk not in ids.checked]
            if fetches:
                transaction.on_commit(partial(publish, fetches, enqueue))
            if checks:
                transaction.on_commit(partial(publishing.publish_checks, checks, enqueue_check))
        # Every free slot taken (or none free): more accounts may be waiting.
        backlog = len(picked) >= slots
        if backlog != gs.dispatch_backlog:
            GlobalSettings.objects.filter(pk=1).update(dispatch_backlog=backlog)
    if picked and not refill:
        log.info("dispatched %d account(s), %d slot(s) were free", len(picked), slots)
    return [pk for pk, _ in picked]


class _HostLoad(Counter):
    """Sessions and queued tasks per server, counted for a host when first asked."""

    def __init__(self, parts):
        super().__init__()
        self.parts = parts

    def __missing__(self, host):
        self[host] = sum(part.filter(host__iexact=host).count() for part in self.parts)
        return self[host]


def _pick(queryset, wanted: int, busy: Counter, per_host: int, pages: int = 0):
    """Up to `wanted` (pk, trigger) in waiting order, skipping servers at their
    limit; `pages` > 0 reads at most that many pages of candidates."""
    picked: list[tuple[int, str]] = []
    full = {host for host, n in busy.items() if per_host and n >= per_host}
    queryset = queryset.order_by("next_check", "pk")
    after = None
    batch = max(2 * wanted, 100)
    while len(picked) < wanted:
        page = queryset
        if full:
            # Skip a big provider's backlog in the query, not row by row.
            page = page.alias(host_key=Lower("host")).exclude(host_key__in=full)
        if after:
            page = page.filter(
                Q(next_check__gt=after[0]) | Q(next_check=after[0], pk__gt=after[1])
            )
        rows = list(page.values_list("pk", "host", "next_check", "pending_trigger")[:batch])
        _take(rows, picked, wanted, busy, per_host, full)
        pages -= 1
        if len(rows) < batch or pages == 0 or len(picked) == wanted:
            break
        after = rows[-1][2], rows[-1][0]
    return picked


def _pick_per_server(now, wanted: int, busy: Counter, per_host: int):
    """What _pick would take from the scheduled due accounts, read per server
    (retrieval/due_scan.py) instead of walking the whole due list."""
    picked: list[tuple[int, str]] = []
    if wanted > 0:
        full = {host for host, n in busy.items() if n >= per_host}
        rows = due_scan.first_due_per_server(now, per_host, full)
        _take(rows, picked, wanted, busy, per_host, full)
    return picked


def _take(rows, picked: list, wanted: int, busy: Counter, per_host: int, full: set):
    """Append to `picked` the rows whose server is under its limit, up to `wanted`."""
    for pk, host, _next, pending in rows:
        if len(picked) >= wanted:
            return
        if per_host:
            key = host.lower()
            if busy[key] >= per_host:
                continue
            busy[key] += 1
            if busy[key] >= per_host:
                full.add(key)
        picked.append((pk, pending or Run.Trigger.SCHEDULE))


def _claim(pks: list[int], now, extra: dict, task_ids: dict):
    """Claim these accounts until the hold runs out, each for its task; `extra`
    is written on the accounts themselves (a request's trigger: rare, a few rows)."""
    AccountClaim.write(pks, now + claim_hold(), task_ids)
    if extra:
        size = connection.features.max_query_params or len(pks) or 1
        for start in range(0, len(pks), size):
            RemoteAccount.objects.filter(pk__in=pks[start : start + size]).update(**extra)


def request_check(account_ids, trigger, cooldown: bool = True) -> list[int]:
    """Queue a check of these accounts now, ahead of scheduled work; returns the ids queued.

    Coalesced, not queued: unknown or disabled accounts, accounts whose check
    is already queued, waiting for a slot or running, accounts checked less
    than COOLDOWN ago (unless `cooldown` is False: an admin's save that changed
    the account wants its new settings tried at once), and everything while the
    service is stopped. A queued
    check that finds no free slot when it starts waits at the head of the
    dispatcher's line (admit).
    """
    if trigger not in Run.Trigger.values:
        raise ValueError(f"unknown trigger {trigger!r}")
    ids = list(dict.fromkeys(int(pk) for pk in account_ids))
    if not ids:
        return []
    with transaction.atomic():
        gs = GlobalSettings.locked()
        if not gs.service_running:
            return []
        now = timezone.now()
        wanted = set()
        recent = Q(last_check__gt=now - COOLDOWN) if cooldown else Q(pk__in=[])
        for start in range(0, len(ids), _CHUNK):
            wanted.update(
                RemoteAccount.objects.filter(pk__in=ids[start : start + _CHUNK], enabled=True)
                .exclude(live_lease(now))
                .exclude(live_claim(now))
                .exclude(pending_trigger__gt="")
                .exclude(recent)
                .values_list("pk", flat=True)
            )
        queued = [pk for pk in ids if pk in wanted]
        task_ids = _task_ids(queued)
        _claim(queued, now, {"pending_trigger": trigger}, task_ids)
        if queued:
            transaction.on_commit(partial(publish, [(pk, trigger, task_ids[pk])
                                                    for pk in queued]))
    return queued


def refill_wanted() -> bool:
    """Whether a finished session should hand on free slots now (dispatch with
    refill=True), judged without the admission lock that every session start
    waits for.

    Only while the last tick left accounts waiting (the cap binds), and only
    once a few slots are free: a batch of up to REFILL_MAX claims per lock
    instead of one claim per finished session, the lock taken a quarter as
    often. With a small cap every free slot counts, so there it is one. The
    slots left free meanwhile are few against the cap, whose queue keeps the
    workers busy, and the next tick fills them all anyway.
    """
    gs = (GlobalSettings.objects.filter(pk=1)
          .only("service_running", "dispatch_backlog", "max_concurrent_downloads").first())
    if gs is None or not gs.service_running or not gs.dispatch_backlog:
        return False
    cap = gs.effective_max_concurrent(enabled_account_count(max_age=30))
    now = timezone.now()
    taken = sum(part.count() for part in in_flight(now))
    return cap - taken >= min(REFILL_MAX, max(1, cap // 25))
