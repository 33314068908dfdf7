"""New mail reported by a watcher (IMAP IDLE) becomes a fetch, exactly once more.

`notify` is the watcher's way into the dispatcher: an account that is free
is claimed and queued at once with trigger "push" (no cooldown: a second
message a few seconds after the first must not wait for the next poll). An
account whose fetch is queued or running is marked dirty instead, and
`after_session` queues exactly one more fetch when that session ends, so a
message that lands during a session never waits for the next poll.

The dirty mark and the session's end cannot miss each other: the mark is a
conditional UPDATE of the account row that requires the lease still live,
and the session clears its lease in that row before it reads the mark
(status.finish_run, then after_session). On PostgreSQL a mark racing the
release waits for it and re-checks the condition; SQLite serialises writers.
"""

import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

from retrieval import dispatcher
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount, Run
from retrieval.models.account import live_lease
from retrieval.models.push import PushLatency

log = logging.getLogger(__name__)

PUSH = Run.Trigger.PUSH

# What notify did.
QUEUED = "queued"
DIRTY = "dirty"
IGNORED = "ignored"


def notify(account_id: int, seen_at=None) -> str:
    """The watcher saw new mail at `seen_at`: queue a fetch, or mark one more after the current."""
    seen_at = seen_at or timezone.now()
    for _ in range(3):
        with transaction.atomic():
            gs = GlobalSettings.locked()
            if not gs.service_running:
                return IGNORED
            now = timezone.now()
            row = RemoteAccount.objects.filter(pk=account_id, enabled=True)
            if not row.exists():
                return IGNORED
            # The earliest unfetched push is what the latency counts from.
            row.filter(push_seen__isnull=True).update(push_seen=seen_at)
            claimed = AccountClaim.objects.filter(account_id=account_id, until__gt=now).exists()
            if claimed or row.filter(live_lease(now)).exists():
                # Queued or running: one more session after it (after_session).
                busy = row if claimed else row.filter(live_lease(now))
                if busy.update(push_dirty=True):
                    return DIRTY
                continue  # the session ended just now: queue a fresh one
            if row.exclude(pending_trigger="").exists():
                return DIRTY  # a requested check waits for a slot; it will see the mail
            task_ids = dispatcher._task_ids([account_id])
            dispatcher._claim([account_id], now, {"pending_trigger": PUSH}, task_ids)
            transaction.on_commit(partial(
                dispatcher.publish, [(account_id, PUSH, task_ids[account_id])]))
            return QUEUED
    return IGNORED


def after_session(account_id: int, run) -> None:
    """A session ended (its lease already cleared): observe the push latency and
    queue the one fetch a push during the session asked for."""
    wanted, seen_at = take_mark(account_id, run)
    if wanted:
        notify(account_id, seen_at=seen_at)


def take_mark(account_id: int, run):
    """Observe the push latency of the session that ended and clear the "one more
    fetch" mark: (whether a push during the session asked for one, the time that
    push was seen or None). Whoever gets True owes the account that fetch."""
    row = RemoteAccount.objects.filter(pk=account_id)
    seen = row.values_list("push_seen", flat=True).first()
    if seen is not None and seen <= run.started:
        # This session listed the mailbox after the push: it fetched that mail.
        if row.filter(push_seen=seen).update(push_seen=None) and run.delivered:
            PushLatency.observe(((run.finished or timezone.now()) - seen).total_seconds())
    wanted = bool(row.filter(push_dirty=True).update(push_dirty=False))
    return wanted, None if seen is None or seen <= run.started else seen
