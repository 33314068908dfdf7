"""Which watcher watches which account: leases in the database, no overlap.

Every call here is synchronous ORM work the watcher runs on its one database
thread. A watcher holds an account while its PushWatch row names it and
`until` lies ahead; it renews all of its rows in one statement every third
of the lease. Claims are made under one transaction-scoped lock (PostgreSQL
advisory lock; SQLite's IMMEDIATE transactions serialise writers already),
with the free rows read FOR UPDATE SKIP LOCKED, so two watchers never take
the same account and the per-server limit of idle connections holds across
watchers. Each watcher takes its fair share (accounts / live watchers), so
a new watcher gets accounts as the others shed their surplus. A watcher
also holds a lock that dies with its process (retrieval/locks.py): a killed
watcher's accounts are free at once; the leases free those of one that hangs.
"""

import datetime as dt
import math
import os
import socket
import uuid
from collections import Counter

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from retrieval import locks
from retrieval.models import PushWatch, PushWatcher, RemoteAccount
from retrieval.models.push import lease_time
from retrieval.push_schedule import resume_polling

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Key of the advisory lock that serialises claims ("pw" in the high bits,
# apart from the session locks' 0x706F prefix).
_CLAIM_LOCK = 0x7077 << 48
# Unowned rows read per claim beyond what is wanted (some may be over a server's limit).
_SLACK = 200


def eligible():
    """IMAP accounts with push on, enabled, whose owner's groups all allow push."""
    return (RemoteAccount.objects.filter(enabled=True, protocol="imap", push=True)
            .exclude(owner__user__groups__policy__allow_push=False))


def new_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# A watcher's lock shares the session locks' machinery (retrieval/locks.py),
# keyed above every account id: it dies with the watcher's process, so the
# others know at once that its accounts are free, without waiting out leases.
_WATCHER_KEY = 1 << 47


def lock_id(watcher_pk: int) -> int:
    return _WATCHER_KEY | watcher_pk


def register(name: str):
    """The watcher's row, and its lock (held until the process ends): returns the lock."""
    now = timezone.now()
    row, _ = PushWatcher.objects.update_or_create(
        name=name, defaults={"hostname": socket.gethostname()[:255], "pid": os.getpid(),
                             "started": now, "last_seen": now, "stopped": None})
    lock = locks.session_lock(lock_id(row.pk))
    if not lock.acquire():
        raise RuntimeError(f"another watcher named {name} is running")
    return lock


def dead_watchers(name: str) -> set[str]:
    """Watchers (other than this one) whose process is gone: their lock is free."""
    rows = dict(PushWatcher.objects.exclude(name=name).values_list("pk", "name"))
    alive = locks.held({lock_id(pk) for pk in rows})
    return {watcher for pk, watcher in rows.items() if lock_id(pk) not in alive}


# What a connection was made with: an edit to any of these signs in again.
CONNECTION_FIELDS = ("host", "port", "security", "username", "password_encrypted",
                     "auth_method", "verify_tls", "folders", "network_restricted")


def renew(name: str) -> dict[int, int]:
    """Extend this watcher's leases; {account id: fingerprint of its connection settings}
    for the accounts it still holds.

    A lease that ran out but that no other watcher has claimed is still this
    watcher's (a claim rewrites the name, under the row's lock), so a slow
    round never makes a watcher drop connections nobody else holds.
    """
    now = timezone.now()
    PushWatcher.objects.filter(name=name).update(last_seen=now, stopped=None)
    mine = PushWatch.objects.filter(watcher=name)
    mine.update(until=now + lease_time())
    held = set(mine.values_list("account_id", flat=True))
    # Accounts switched off (push, account, protocol, group) are let go.
    settings_of = fingerprints(held)
    gone = held - set(settings_of)
    if gone:
        release(name, gone)
    return settings_of


def fingerprints(ids) -> dict[int, int]:
    """{account id: fingerprint of its connection settings and of how many of its folders
    are watched} of those still eligible."""
    return {row[0]: hash(repr(row[1:])) for row in
            eligible().filter(pk__in=list(ids)).values_list(
                "pk", *CONNECTION_FIELDS, "push_watch__connections")}


def fair_share(name: str) -> int:
    """How many accounts this watcher should hold: all eligible ones over the live watchers."""
    total = eligible().count()
    others = PushWatcher.alive().exclude(name=name).exclude(name__in=dead_watchers(name))
    return math.ceil(total / (others.count() + 1))


def next_takeover(name: str):
    """When the earliest lease held by another watcher runs out (None if none): a
    watcher short of its share looks again then, so a dead one's accounts wait
    no longer than their leases."""
    return (PushWatch.objects.exclude(watcher__in=("", name)).order_by("until")
            .values_list("until", flat=True).first())


def folder_count(folders) -> int:
    """How many folders an account fetches (RemoteAccount.effective_folders)."""
    return len(folders or []) or 1


def needed(folders, notify) -> int:
    """Idle connections that watch all of an account's folders: one with NOTIFY, else one
    per folder (NOTIFY not known yet counts as absent until a sign-in finds it)."""
    return 1 if notify else folder_count(folders)


def _load(name: str, now, dead=None) -> Counter:
    """Idle connections held per server (lowercased), leaving out dead watchers' ones."""
    load = Counter()
    dead = dead_watchers(name) if dead is None else dead
    rows = (PushWatch.objects.filter(until__gte=now).exclude(watcher="").exclude(watcher__in=dead)
            .annotate(h=Lower("account__host")).values_list("h", "connections"))
    for host, n in rows:
        load[host] += n
    return load


def _claim_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLAIM_LOCK])


def claim(name: str, wanted: int, per_server: int | None = None) -> list[int]:
    """Take up to `wanted` unwatched eligible accounts, within the per-server limit of idle
    connections: one per folder, so an account may be taken with only its first folders."""
    if wanted <= 0:
        return []
    per_server = settings.POPADMIN_IDLE_PER_SERVER if per_server is None else per_server
    now = timezone.now()
    with transaction.atomic():
        _claim_lock()
        missing = list(eligible().filter(push_watch__isnull=True).values_list("pk", flat=True))
        PushWatch.objects.bulk_create(
            [PushWatch(account_id=pk, until=EPOCH) for pk in missing],
            ignore_conflicts=True, batch_size=500)
        # A dead watcher's accounts are free at once, whatever their leases say.
        dead = dead_watchers(name)
        load = _load(name, now, dead)
        free = list(
            PushWatch.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(Q(until__lt=now) | Q(watcher__in=dead), account__in=eligible())
            .order_by("account_id")
            .values_list("account_id", "account__host", "account__folders",
                         "notify_supported")[: wanted + _SLACK]
        )
        taken, limited, sizes = [], [], {}
        for pk, host, folders, notify in free:
            if len(taken) >= wanted:
                break
            key = host.lower()
            room = needed(folders, notify)
            if per_server:
                room = min(room, per_server - load[key])
            if room <= 0:
                limited.append(pk)
                continue
            load[key] += room
            taken.append(pk)
            sizes.setdefault(room, []).append(pk)
        for size, ids in sizes.items():
            PushWatch.objects.filter(account_id__in=ids).update(
                watcher=name, until=now + lease_time(), state=PushWatch.State.CONNECTING,
                error="", since=None, connections=size, connected=0)
        PushWatch.objects.filter(account_id__in=limited).update(
            watcher="", state=PushWatch.State.LIMIT, connections=0, connected=0)
    return taken


def fit(name: str, per_server: int | None = None) -> int:
    """Match the idle connections of this watcher's accounts to what they need: fewer
    after an edit or once NOTIFY is found, more when the server's limit has room again.
    Returns how many accounts changed (their connections are signed in again: see
    fingerprints)."""
    rows = list(PushWatch.objects.filter(watcher=name).values_list(
        "account_id", "account__host", "account__folders", "notify_supported", "connections"))
    if all(n == needed(folders, notify) for _, _, folders, notify, n in rows):
        return 0
    per_server = settings.POPADMIN_IDLE_PER_SERVER if per_server is None else per_server
    now = timezone.now()
    changed = 0
    with transaction.atomic():
        _claim_lock()
        load = _load(name, now)
        for pk, host, folders, notify, n in rows:
            want, key = needed(folders, notify), host.lower()
            if n > want:
                size = want
            elif n < want:
                room = want - n if not per_server else min(want - n, per_server - load[key])
                if room <= 0:
                    continue
                size = n + room
            else:
                continue
            load[key] += size - n
            changed += PushWatch.objects.filter(account_id=pk, watcher=name).update(
                connections=size)
    return changed


def _healthy(rows, *also) -> list[int]:
    return list(rows.filter(state__in=(PushWatch.State.IDLE, PushWatch.State.NOOP, *also))
                .values_list("account_id", flat=True))


def release(name: str, ids) -> None:
    """Let go of these accounts (shed, switched off, or the watcher stops); those whose
    push was working are polled again now, since their next poll may be hours away."""
    rows = PushWatch.objects.filter(watcher=name, account_id__in=list(ids))
    healthy = _healthy(rows)
    rows.update(watcher="", until=EPOCH, state=PushWatch.State.CONNECTING, since=None,
                connected=0)
    resume_polling(healthy)


def stop(name: str) -> None:
    ids = PushWatch.objects.filter(watcher=name).values_list("account_id", flat=True)
    release(name, list(ids))
    PushWatcher.objects.filter(name=name).update(stopped=timezone.now())


def report(name: str, pk: int, state: str, **fields) -> bool:
    """The account's state summed up over its folders (and any of error, idle_supported,
    connected, folders)."""
    now = timezone.now()
    row = PushWatch.objects.filter(account_id=pk, watcher=name)
    if state in (PushWatch.State.IDLE, PushWatch.State.NOOP):
        fields.setdefault("since", now)
        fields.setdefault("error", "")
    else:
        fields["since"] = None
    return bool(row.update(state=state, **fields))


def report_notify(name: str, pk: int, offered: bool) -> bool:
    """Whether the server offers NOTIFY; the next lease round fits the connections to it."""
    return bool(PushWatch.objects.filter(account_id=pk, watcher=name)
                .update(notify_supported=offered))


def stored_folders(pk: int) -> dict:
    """The per-folder record of the last connections: {folder: {"uidvalidity", "uidnext", ...}}."""
    found = PushWatch.objects.filter(account_id=pk).values_list("folders", flat=True).first()
    return found if isinstance(found, dict) else {}


def count_reconnect(name: str, pk: int, error: str, **fields) -> None:
    """A connection failed. Only the first failure after a working push or a claim makes
    the account due at once (a taken-over account may still be on its safety schedule,
    hours away); later ones leave the schedule, and a failing account's back-off, alone."""
    row = PushWatch.objects.filter(account_id=pk, watcher=name)
    healthy = _healthy(row, PushWatch.State.CONNECTING)
    row.update(state=PushWatch.State.FAILING, error=error[:2000],
               reconnects=F("reconnects") + 1, since=None, **fields)
    resume_polling(healthy)
