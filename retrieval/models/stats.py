"""Hourly totals of retrieval, kept apart from the runs so charts survive run pruning."""

import datetime as dt

from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class HourlyStats(models.Model):
    """One row per hour (UTC, on the hour): what every session of that hour added up to.

    Written once per finished session by record() (an upsert with F()
    increments, safe from any number of workers); read by the dashboard and
    /metrics. Empty polls count here even when they keep no Run row of their own.
    """

    hour = models.DateTimeField(unique=True)
    runs_ok = models.PositiveIntegerField(default=0)
    runs_partial = models.PositiveIntegerField(default=0)
    runs_error = models.PositiveIntegerField(default=0)
    empty_polls = models.PositiveIntegerField(_("polls that found nothing new"), default=0)
    messages = models.PositiveBigIntegerField(_("messages fetched"), default=0)
    delivered = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(_("bytes fetched"), default=0)
    seconds = models.FloatField(_("session seconds"), default=0.0)
    # Sessions by duration, for the /metrics histogram: each counts the
    # sessions longer than the bucket before it and at most this many seconds
    # (longer ones are the rest of the hour's runs).
    duration_le_1 = models.PositiveIntegerField(default=0, editable=False)
    duration_le_5 = models.PositiveIntegerField(default=0, editable=False)
    duration_le_30 = models.PositiveIntegerField(default=0, editable=False)
    duration_le_120 = models.PositiveIntegerField(default=0, editable=False)
    duration_le_600 = models.PositiveIntegerField(default=0, editable=False)
    duration_le_1800 = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-hour"]
        verbose_name_plural = _("hourly statistics")

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H:00}"

    STATUS_FIELDS = {"ok": "runs_ok", "partial": "runs_partial", "error": "runs_error"}
    DURATION_BUCKETS = (1, 5, 30, 120, 600, 1800)

    @classmethod
    def duration_field(cls, seconds: float) -> str | None:
        """The bucket field a session of this many seconds counts in (None: longer than all)."""
        return next((f"duration_le_{b}" for b in cls.DURATION_BUCKETS if seconds <= b), None)

    @classmethod
    def record(cls, *, status: str, when: dt.datetime | None = None, empty: bool = False,
               messages: int = 0, delivered: int = 0, failed: int = 0, bytes: int = 0,
               seconds: float = 0.0):
        """Add one finished session (status "ok", "partial" or "error") to its hour."""
        hour = floor_hour(when or timezone.now())
        counts = {"messages": messages, "delivered": delivered, "failed": failed,
                  "bytes": bytes, "seconds": seconds}
        if status in cls.STATUS_FIELDS:
            counts[cls.STATUS_FIELDS[status]] = 1
            if bucket := cls.duration_field(seconds):
                counts[bucket] = 1
        if empty:
            counts["empty_polls"] = 1
        cls.add(hour, counts)

    @classmethod
    def record_empty(cls, durations: list[float], when: dt.datetime | None = None):
        """Add empty polls that ended well (a batch of cheap checks) in one statement,
        each as record(status="ok", empty=True, seconds=...) would."""
        if not durations:
            return
        counts = {"runs_ok": len(durations), "empty_polls": len(durations),
                  "seconds": sum(durations)}
        for seconds in durations:
            if bucket := cls.duration_field(seconds):
                counts[bucket] = counts.get(bucket, 0) + 1
        cls.add(floor_hour(when or timezone.now()), counts)

    @classmethod
    def add(cls, hour: dt.datetime, counts: dict):
        changes = {name: F(name) + value for name, value in counts.items() if value}
        if not changes:
            return
        # Add to the hour's row; only when it is missing (the hour's first
        # session) create it, a no-op when another worker just did, and add
        # again. No lost update, on both databases, one statement mostly.
        if cls.objects.filter(hour=hour).update(**changes):
            return
        cls.objects.bulk_create([cls(hour=hour)], ignore_conflicts=True)
        cls.objects.filter(hour=hour).update(**changes)


def floor_hour(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
