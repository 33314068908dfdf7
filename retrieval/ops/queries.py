"""What the dashboard shows, read with cheap queries only.

Nothing here reads Run: totals come from HourlyStats (one row per hour),
sessions and claims from the partial indexes on RemoteAccount, and every
list of accounts is cut at LIMIT rows with its full count beside it.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce, Lower, TruncDay
from django.utils import timezone

from retrieval.dispatcher import claim_hold
from retrieval.explain import explain
from retrieval.lost_claims import pickup_grace
from retrieval.models import GlobalSettings, Heartbeat, HourlyStats, RemoteAccount, UserSettings
from retrieval.models.account import enabled_account_count, live_claim, live_lease
from retrieval.models.stats import floor_hour
from retrieval.ops import queues

LIMIT = 20
TOTALS = ("runs_ok", "runs_partial", "runs_error", "messages", "bytes", "delivered", "failed")


@dataclass
class Bucket:
    start: dt.datetime
    values: dict = field(default_factory=dict)


def hourly(now=None, hours: int = 24) -> list[Bucket]:
    """The last `hours` UTC hours, oldest first, the current one included; empty hours are 0."""
    end = floor_hour(now or timezone.now())
    start = end - dt.timedelta(hours=hours - 1)
    rows = {r["hour"]: r for r in HourlyStats.objects.filter(hour__gte=start).values("hour",
                                                                                      *TOTALS)}
    return [_bucket(start + dt.timedelta(hours=i), rows) for i in range(hours)]


def daily(now=None, days: int = 30) -> list[Bucket]:
    """The last `days` UTC days, oldest first, today included."""
    today = floor_hour(now or timezone.now()).replace(hour=0)
    start = today - dt.timedelta(days=days - 1)
    rows = {
        r["day"]: r
        for r in HourlyStats.objects.filter(hour__gte=start)
        .annotate(day=TruncDay("hour", tzinfo=dt.UTC)).order_by().values("day")
        .annotate(**{name: Sum(name) for name in TOTALS})
    }
    return [_bucket(start + dt.timedelta(days=i), rows) for i in range(days)]


def _bucket(start, rows) -> Bucket:
    row = rows.get(start) or {}
    return Bucket(start, {name: row.get(name) or 0 for name in TOTALS})


def summary(buckets: list[Bucket]) -> dict:
    total = {name: sum(b.values[name] for b in buckets) for name in TOTALS}
    runs = total["runs_ok"] + total["runs_partial"] + total["runs_error"]
    total["runs"] = runs
    total["error_rate"] = (total["runs_error"] / runs) if runs else 0.0
    return total


def sessions(now=None) -> dict:
    now = now or timezone.now()
    gs = GlobalSettings.load()
    live = RemoteAccount.objects.filter(live_lease(now)).order_by()
    per_host = list(
        live.annotate(server=Lower("host")).values("server").annotate(n=Count("pk"))
        .order_by("-n", "server")[:LIMIT]
    )
    return {
        "running": live.count(),
        "cap": gs.effective_max_concurrent(enabled_account_count(max_age=30)),
        "per_host": per_host,
        "per_host_limit": gs.max_sessions_per_host,
        **claimed(now),
        "service_running": gs.service_running,
    }


def claimed(now) -> dict:
    """Slots of the cap held by queued tasks, not by running sessions: "claimed"
    in all, "waiting" for a worker to take the task (in the broker),
    "received" by a worker and not started yet, and "stale": waiting longer
    than the pick-up grace (retrieval/lost_claims.py), which the next tick
    releases unless the broker still holds the task."""
    queued = RemoteAccount.objects.filter(live_claim(now)).exclude(live_lease(now))
    counts = queued.aggregate(
        claimed=Count("pk"),
        received=Count("pk", filter=~Q(claim__worker="")),
        stale=Count("pk", filter=Q(claim__worker="",
                                   claim__until__lte=now - pickup_grace() + claim_hold())),
    )
    counts["waiting"] = counts["claimed"] - counts["received"]
    return counts


def queue_depths() -> dict:
    try:
        return {"ok": True, **queues.depths()}
    except queues.BrokerUnavailable as exc:
        return {"ok": False, "error": str(exc)}


def processes(now=None) -> list[dict]:
    """The workers and beats to list: alive ones, and dead ones not yet replaced.

    A process stopped or silent for a day is history, not news; so is a dead
    one whose host started a process of the same role after its last beat:
    its replacement (a restarted container, a worker started again). Two
    workers of one host that ran side by side are not each other's.
    """
    now = now or timezone.now()
    recent = list(Heartbeat.objects.filter(last_seen__gte=now - dt.timedelta(days=1))
                  .order_by("role", "-last_seen")[:200])
    latest = {}
    for hb in recent:
        key = (hb.role, machine(hb.hostname))
        latest[key] = max(latest.get(key, hb.started), hb.started)
    listed = [hb for hb in recent
              if hb.is_alive(now) or latest[(hb.role, machine(hb.hostname))] <= hb.last_seen]
    return [{"beat": hb, "state": state(hb, now), "alive": hb.is_alive(now),
             "silent_since": hb.silent_since} for hb in listed[:50]]


def state(hb, now) -> str:
    """"running"; "stopped" when it shut down cleanly and said so (a restart, a
    deploy: shown faded); "silent" when it stopped beating without a word (killed,
    crashed, hung: shown red)."""
    if hb.is_alive(now):
        return "running"
    return "stopped" if hb.stopped is not None else "silent"


def machine(hostname: str) -> str:
    """The host a process runs on: a worker's node name is "name@host"."""
    return hostname.rpartition("@")[2]


def workers(now=None) -> dict:
    """Workers alive against the expected number (POPADMIN_EXPECTED_WORKERS, 0: at least one)."""
    now = now or timezone.now()
    alive = Heartbeat.alive(now).filter(role=Heartbeat.Role.WORKER).count()
    expected = settings.POPADMIN_EXPECTED_WORKERS
    return {"alive": alive, "expected": expected, "short": alive < max(expected, 1)}


# --- accounts that need a look -------------------------------------------------

def _listing(queryset, order) -> dict:
    rows = list(queryset.select_related("owner").order_by(*order)[:LIMIT])
    count = len(rows) if len(rows) < LIMIT else queryset.count()
    return {"rows": rows, "count": count}


def failing() -> dict:
    listing = _listing(RemoteAccount.objects.filter(consecutive_failures__gt=0),
                       ["failing_since", "pk"])
    for account in listing["rows"]:
        why = explain(account.last_error, account.host)
        account.plain_error = why.summary if why else ""
    return listing


def overdue(now=None) -> dict:
    """Enabled accounts not checked (or, never checked, not since created) for more than
    twice their poll interval: the account's, else the owner's, else the global one."""
    now = now or timezone.now()
    gs = GlobalSettings.load()
    minutes = Coalesce("poll_minutes", "owner__retrieval_settings__poll_minutes",
                       Value(gs.poll_minutes))
    # Intervals are few distinct values: one condition each keeps the date
    # arithmetic in Python (SQLite cannot multiply a duration in SQL).
    choices = {gs.poll_minutes}
    choices.update(RemoteAccount.objects.exclude(poll_minutes=None).order_by()
                   .values_list("poll_minutes", flat=True).distinct())
    choices.update(UserSettings.objects.exclude(poll_minutes=None).order_by()
                   .values_list("poll_minutes", flat=True).distinct())
    late = Q(pk__in=[])
    for m in choices:
        late |= Q(minutes=m, checked__lt=now - dt.timedelta(minutes=2 * m))
    late = (
        RemoteAccount.objects.filter(enabled=True, consecutive_failures=0)
        .alias(minutes=minutes, checked=Coalesce("last_check", "created"))
        .filter(late)
    )
    return _listing(late, ["last_check", "pk"])


def disabled() -> dict:
    return _listing(RemoteAccount.objects.filter(enabled=False), ["owner__address", "pk"])


def insecure() -> dict:
    weak = Q(security=RemoteAccount.Security.NONE) | Q(verify_tls=False)
    return _listing(RemoteAccount.objects.filter(weak), ["owner__address", "pk"])


def mailbox_full() -> dict:
    """Accounts whose last check left mail on the server because a local mailbox is over
    its quota or the local storage is full: by the kind the run gave (Run.reason_kind)."""
    kinds = [RemoteAccount.ErrorKind.MAILBOX_FULL, RemoteAccount.ErrorKind.STORAGE_FULL]
    full = RemoteAccount.objects.filter(last_status__in=["partial", "error"],
                                        last_error_kind__in=kinds)
    return _listing(full, ["owner__address", "pk"])


def attention(now=None) -> dict:
    return {"failing": failing(), "overdue": overdue(now), "mailbox_full": mailbox_full(),
            "insecure": insecure(), "disabled": disabled()}


def failing_outlook(now=None) -> dict:
    """How many enabled accounts fail, and when the first one not yet past its
    alert threshold (GlobalSettings.alert_after_minutes, or its owner's) opens an
    alert (retrieval/alerts.py): so "No open alert" never reads as "all is well"."""
    now = now or timezone.now()
    gs = GlobalSettings.load()
    failing = RemoteAccount.objects.filter(enabled=True, failing_since__isnull=False)
    count = failing.count()
    out = {"count": count, "minutes": gs.alert_after_minutes, "due": 0, "next_at": None}
    if not count:
        return out
    overrides = dict(UserSettings.objects.filter(alert_after_minutes__isnull=False)
                     .values_list("mailbox_id", "alert_after_minutes"))
    for owner_id, since in failing.order_by().values_list("owner_id", "failing_since")[:1000]:
        at = since + dt.timedelta(minutes=overrides.get(owner_id, gs.alert_after_minutes))
        if at <= now:
            out["due"] += 1
        elif out["next_at"] is None or at < out["next_at"]:
            out["next_at"] = at
    return out
