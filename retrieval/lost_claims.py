"""Claims whose task is lost are released at the next dispatcher tick, not when they run out.

A claim (retrieval/models/claim.py) holds its account and a slot of the
global cap while its task waits. Tasks get lost: the broker restarts
without them, a publish fails, a worker that had received (prefetched) them
is killed, or drops them when its broker connection breaks. Their claims
would then fill the cap until they run out (POPADMIN_CLAIM_HOLD_SECONDS),
and nothing would start anywhere. So every tick looks at the claims older
than PICKUP_GRACE and releases:

- a claim whose task a worker received, when that worker's process is gone
  (its own lock, retrieval/worker_lock.py, went with it: the next tick
  knows; the broker gives the task back only after its visibility timeout,
  and that late copy is refused as not due);
- a claim whose task no worker received and that the broker no longer
  holds in any queue (a worker drops what it had received when its broker
  connection breaks, and says so: ClaimsStep).

A claim made less than PICKUP_GRACE ago is left alone: its task may be on
its way from the publisher, or from the broker to a worker. A release that
is wrong (a task in flight at the very moment of the look) costs a
duplicate task, which admission refuses; a claim kept too long costs a
stalled slot, so the rule leans to release.
"""

import datetime as dt
import json
import logging
import os

from django.conf import settings

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    pass


def pickup_grace() -> dt.timedelta:
    """How long a task may take to reach the broker and a worker: two dispatcher
    ticks, and never under ten seconds."""
    return dt.timedelta(seconds=max(2 * settings.POPADMIN_DISPATCH_SECONDS, 10.0))


def _old(now, claim_hold: dt.timedelta):
    from retrieval.models import AccountClaim

    # Made before now - grace: until = made + hold.
    return AccountClaim.objects.filter(until__gt=now,
                                       until__lte=now - pickup_grace() + claim_hold)


def broker_snapshot(now, claim_hold: dt.timedelta):
    """The task ids the broker holds, read only when some claim older than the
    grace waits for a worker; None when there is none or the broker does not
    answer (then no waiting claim is judged).

    Read before the admission lock is taken: a slow broker must not hold up
    every session start. A task still queued here is kept whatever happens
    to it next; one taken from the queue just before this read, whose worker
    marks it only after the tick reads the claims, is judged lost, and costs
    a duplicate task that admission refuses.
    """
    if not _old(now, claim_hold).filter(worker="").exists():
        return None
    try:
        return queued_task_ids()
    except BrokerUnavailable as exc:
        log.warning("could not look for lost tasks (%s); claims kept", exc)
        return None


def release(now, claim_hold: dt.timedelta, queued: set[str] | None) -> int:
    """Release the claims whose task is lost; returns how many. `queued`: the
    broker's task ids (broker_snapshot). Call with the admission lock held (a
    dispatcher tick)."""
    from retrieval import worker_lock

    old = _old(now, claim_hold)
    rows = list(old.values_list("account_id", "task_id", "worker"))
    if not rows:
        return 0
    holders = {worker for _pk, _tid, worker in rows if worker}
    released = 0
    gone = holders - worker_lock.alive(holders)
    for worker in gone:
        released += old.filter(worker=worker).delete()[0]
    waiting = {tid: pk for pk, tid, worker in rows if not worker}
    if waiting and queued is not None:
        lost = [pk for tid, pk in waiting.items() if not tid or tid not in queued]
        # Only still unreceived: a worker may have marked one meanwhile.
        released += old.filter(account_id__in=lost, worker="").delete()[0]
    if released:
        log.warning("released %d claim(s) whose task was lost (broker restarted, publish "
                    "failed or worker gone); the accounts are dispatched again", released)
    return released


def queued_task_ids() -> set[str]:
    """The ids of the tasks waiting in the broker's queues (every queue workers consume)."""
    names = list(settings.CELERY_TASK_QUEUES)  # {name: options}
    if settings.REDIS_URL:
        return _redis_ids(names)
    return _filesystem_ids(names)


def _task_id(raw) -> str:
    try:
        message = json.loads(raw)
        return str(message.get("headers", {}).get("id") or
                   message.get("properties", {}).get("correlation_id") or "")
    except (ValueError, AttributeError):
        return ""


def _redis_ids(names) -> set[str]:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.lrange(name, 0, -1)
            lists = pipe.execute()
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"redis: {type(exc).__name__}") from exc
    finally:
        client.close()
    return {_task_id(raw) for messages in lists for raw in messages}


def _filesystem_ids(names) -> set[str]:
    # popadmin/broker.py names each message "<stamp>_<uuid>.<queue>.msg".
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
    suffixes = tuple(f".{name}.msg" for name in names)
    ids = set()
    try:
        entries = [e.name for e in os.scandir(folder) if e.name.endswith(suffixes)]
    except OSError as exc:
        raise BrokerUnavailable(f"broker folder: {exc.strerror}") from exc
    for name in entries:
        try:
            with open(os.path.join(folder, name), "rb") as f:
                ids.add(_task_id(f.read()))
        except OSError:
            continue  # taken by a worker meanwhile
    return ids
