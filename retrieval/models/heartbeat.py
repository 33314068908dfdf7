"""Heartbeats of the Celery processes: which workers and beats are alive, and which went silent."""

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    """One row per worker or beat process, touched every POPADMIN_HEARTBEAT_SECONDS.

    Written by the process itself (retrieval/ops/heartbeat.py), so a killed
    process simply stops touching its row: it is "silent" once it has missed
    three beats. The row stays, so the dashboard can say when it went silent.
    """

    class Role(models.TextChoices):
        WORKER = "worker", _("Worker")
        BEAT = "beat", _("Beat")

    role = models.CharField(max_length=10, choices=Role.choices)
    hostname = models.CharField(_("host name"), max_length=255)
    pid = models.PositiveIntegerField()
    version = models.CharField(max_length=40, blank=True)
    started = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    # Set by a clean shutdown: a stopped process is not a silent one.
    stopped = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["role", "hostname", "pid"]
        constraints = [
            models.UniqueConstraint(fields=["role", "hostname", "pid"], name="unique_heartbeat")
        ]

    def __str__(self):
        return f"{self.role} {self.hostname} (pid {self.pid})"

    @staticmethod
    def silent_after() -> dt.timedelta:
        return dt.timedelta(seconds=3 * settings.POPADMIN_HEARTBEAT_SECONDS)

    @classmethod
    def alive(cls, now=None):
        now = now or timezone.now()
        return cls.objects.filter(stopped__isnull=True, last_seen__gte=now - cls.silent_after())

    def is_alive(self, now=None) -> bool:
        now = now or timezone.now()
        return self.stopped is None and self.last_seen >= now - self.silent_after()

    @property
    def silent_since(self):
        """When the last beat was missed: the first moment it counted as silent."""
        return self.last_seen + self.silent_after()
