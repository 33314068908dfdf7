"""Push (IMAP IDLE): the watcher processes, which account each one watches, and latency.

Each watcher process (`manage.py watch`) has a PushWatcher row it touches
every few seconds. A PushWatch row per account says which watcher holds it
and until when: a lease renewed in bulk by its holder, so an account is
watched by exactly one live watcher and a dead watcher's accounts are taken
over once their leases run out (retrieval/watch/leases.py).
"""

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


def lease_time() -> dt.timedelta:
    return dt.timedelta(seconds=settings.POPADMIN_WATCH_LEASE_SECONDS)


class PushWatcher(models.Model):
    """One `manage.py watch` process."""

    name = models.CharField(max_length=120, unique=True)
    hostname = models.CharField("host name", max_length=255)
    pid = models.PositiveIntegerField()
    started = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    stopped = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"watcher {self.hostname} (pid {self.pid})"

    @classmethod
    def alive(cls, now=None):
        now = now or timezone.now()
        return cls.objects.filter(stopped__isnull=True, last_seen__gte=now - lease_time())


class PushWatch(models.Model):
    """An account's IDLE connections, one per folder it fetches: who holds them, and how
    they are doing.

    `state` sums up the account's folders: idle or noop only when every watched
    folder is; failing when any is (the per-folder states are in `folders`).
    """

    class State(models.TextChoices):
        CONNECTING = "connecting", "Connecting"
        IDLE = "idle", "Idle (push)"
        NOOP = "noop", "Polling with NOOP (server has no IDLE)"
        FAILING = "failing", "Failing; reconnecting"
        LIMIT = "limit", "Per-server limit of idle connections reached"

    account = models.OneToOneField(
        "retrieval.RemoteAccount", on_delete=models.CASCADE, primary_key=True,
        related_name="push_watch",
    )
    # The PushWatcher.name holding the lease; "" when nobody does.
    watcher = models.CharField(max_length=120, blank=True)
    until = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.CONNECTING)
    # Idle connections the account may hold: one per folder (its first folders
    # when the server's limit of idle connections leaves no room for all; the
    # others are found by its usual polls), or one for all of them with NOTIFY.
    connections = models.PositiveSmallIntegerField(default=1)
    # Of those, how many are signed in and idling (or polling with NOOP) now.
    connected = models.PositiveSmallIntegerField(default=0)
    # Whether the server offers NOTIFY (RFC 5465; None: not known yet). Then the
    # account's folders are all watched on one connection, whatever their number.
    notify_supported = models.BooleanField(null=True)
    # Whether the server offered IDLE at the last login (None: not known yet).
    idle_supported = models.BooleanField(null=True)
    since = models.DateTimeField(null=True, blank=True)
    reconnects = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Per watched folder: {"state", "error", "uidvalidity", "uidnext"}. The
    # UIDVALIDITY and UIDNEXT of its last login: a reconnect that finds them
    # moved pushes, so mail that came while nobody watched is fetched.
    folders = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["watcher", "until"], name="pushwatch_holder_idx"),
            # Each dispatcher tick looks for healthy watches whose lease ran out
            # (push_schedule.lapse_dead_watches): only the connected rows, in expiry order.
            models.Index(fields=["until"], condition=Q(state__in=("idle", "noop")),
                         name="pushwatch_connected_idx"),
        ]

    def __str__(self):
        return f"push watch of account {self.account_id}"

    def healthy(self, now=None) -> bool:
        now = now or timezone.now()
        return self.until >= now and self.state in (self.State.IDLE, self.State.NOOP)


def healthy_watch(now):
    """Rows of accounts whose push is live now on every folder it watches (whether it
    watches all of the account's folders is `connections`' business)."""
    return PushWatch.objects.filter(
        until__gte=now, state__in=(PushWatch.State.IDLE, PushWatch.State.NOOP))


class PushLatency(models.Model):
    """The push latency histogram (`popadmin_push_latency_seconds`): one row, counted in place.

    From the moment a watcher saw new mail (EXISTS) to the end of the
    session that delivered it. Kept in the database like every other figure
    of /metrics, because any web process may answer a scrape.
    """

    BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300)

    count = models.PositiveBigIntegerField(default=0)
    total_seconds = models.FloatField(default=0.0)
    le_0_5 = models.PositiveBigIntegerField(default=0)
    le_1 = models.PositiveBigIntegerField(default=0)
    le_2 = models.PositiveBigIntegerField(default=0)
    le_5 = models.PositiveBigIntegerField(default=0)
    le_10 = models.PositiveBigIntegerField(default=0)
    le_30 = models.PositiveBigIntegerField(default=0)
    le_60 = models.PositiveBigIntegerField(default=0)
    le_300 = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"push latency: {self.count} observed"

    @staticmethod
    def field(bound) -> str:
        return "le_" + str(bound).replace(".", "_")

    @classmethod
    def observe(cls, seconds: float):
        seconds = max(seconds, 0.0)
        changes = {"count": F("count") + 1, "total_seconds": F("total_seconds") + seconds}
        for bound in cls.BUCKETS:
            if seconds <= bound:
                # Each observation counts in its own bucket only; /metrics adds them up.
                changes[cls.field(bound)] = F(cls.field(bound)) + 1
                break
        if not cls.objects.filter(pk=1).update(**changes):
            cls.objects.get_or_create(pk=1)
            cls.objects.filter(pk=1).update(**changes)

    @classmethod
    def cumulative(cls):
        """([(bound, count at or below)], count, sum) for a Prometheus histogram."""
        row = cls.objects.filter(pk=1).first() or cls()
        running, buckets = 0, []
        for bound in cls.BUCKETS:
            running += getattr(row, cls.field(bound))
            buckets.append((bound, running))
        return buckets, row.count, row.total_seconds
