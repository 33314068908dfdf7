"""Retrieval history: one row per session, written before it starts."""

import datetime as dt
import math

from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from delivery.backends import MAILBOX_FULL, STORAGE_FULL
from retrieval.models.notes import NoteLog

DIED = (
    "the worker running this session stopped unexpectedly (killed or crashed); "
    "mail not yet delivered is still on the server"
)
# Said instead of DIED by the worker itself, once the database answers again
# (retrieval/lost_connection.py): it is alive, its connection was what died.
LOST_DATABASE = (
    "the database connection was lost during this session (the database restarted or "
    "the connection dropped); the worker is alive and will check the account again; "
    "mail not yet delivered is still on the server"
)

# Which failure a run names when it had several: the higher the rank, the more it says.
_RANK = {"": 0, MAILBOX_FULL: 1, STORAGE_FULL: 2}


class Run(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Check now")
        LOGIN = "login", _("Login")
        ADMIN = "admin", _("Admin")
        COMMAND = "command", _("Command line")
        PUSH = "push", _("Push")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("OK")
        PARTIAL = "partial", _("Partly failed")
        ERROR = "error", _("Error")

    COUNTERS = ("seen", "fetched", "delivered", "duplicates", "deleted", "failed", "bytes")

    account = models.ForeignKey(
        "retrieval.RemoteAccount", on_delete=models.CASCADE, related_name="runs",
        verbose_name=_("account")
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices, verbose_name=_("trigger"))
    started = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("started"))
    finished = models.DateTimeField(null=True, blank=True, verbose_name=_("finished"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING,
                              verbose_name=_("status"))
    seen = models.PositiveIntegerField(_("seen on server"), default=0)
    fetched = models.PositiveIntegerField(default=0, verbose_name=_("fetched"))
    delivered = models.PositiveIntegerField(default=0, verbose_name=_("delivered"))
    duplicates = models.PositiveIntegerField(default=0, verbose_name=_("duplicates"))
    deleted = models.PositiveIntegerField(default=0, verbose_name=_("deleted"))
    failed = models.PositiveIntegerField(default=0, verbose_name=_("failed"))
    bytes = models.PositiveBigIntegerField(default=0, verbose_name=_("bytes"))
    total = models.PositiveIntegerField(_("new messages to fetch"), default=0)
    error = models.TextField(blank=True, verbose_name=_("error"))
    notes = models.JSONField(default=list, blank=True, verbose_name=_("notes"))
    # The account lease this run held; a run whose lease is gone has died.
    lease_token = models.UUIDField(null=True, blank=True, editable=False,
                                   verbose_name=_("lease token"))
    # The account's name when the run started: renaming it later does not
    # rewrite history.
    account_label = models.CharField(_("account"), max_length=400, blank=True)
    # Which process ran it ("host:pid"), to find its log.
    worker = models.CharField(max_length=300, blank=True, verbose_name=_("worker"))
    # Connection attempts: the one in progress (or next) of how many, and
    # when the next begins while the session waits to retry.
    attempt = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempt"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    next_try = models.DateTimeField(null=True, blank=True, verbose_name=_("next try"))

    class Meta:
        ordering = ["-started"]
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        indexes = [models.Index(fields=["account", "-started"])]

    def __str__(self):
        # Named by the account as history keeps it, not by its number.
        return f"Run {self.pk}: {self.account_label or f'account {self.account_id}'}"

    @property
    def duration(self):
        if self.finished:
            return self.finished - self.started
        return None

    @property
    def progress(self) -> tuple[int, int]:
        """(messages done, new messages to fetch); the engine writes both as it goes,
        so a freshly read row shows a running session's progress."""
        return min(self.fetched, self.total) if self.total else self.fetched, self.total

    @classmethod
    def end_dead(cls, runs, now=None, error: str = DIED) -> int:
        """End these runs, if still marked running, as their worker's death left them.

        Each counts once in its hour's totals (HourlyStats), with what it had
        done, like a run its session ended: the charts and /metrics add up
        every run, however it ended. Only the runs this call ends are
        counted, so a second cleanup (or the session's own late finish,
        status.finish_run) never counts one again.
        """
        from retrieval.models.stats import HourlyStats

        now = now or timezone.now()
        ended = 0
        fields = ("pk", "started", "fetched", "delivered", "failed", "bytes")
        for row in runs.filter(status=cls.Status.RUNNING).values(*fields):
            if not cls.objects.filter(pk=row["pk"], status=cls.Status.RUNNING).update(
                    status=cls.Status.ERROR, finished=now, error=error):
                continue  # ended meanwhile, and counted, by whoever did
            ended += 1
            HourlyStats.record(
                status=cls.Status.ERROR, when=now, messages=row["fetched"],
                delivered=row["delivered"], failed=row["failed"], bytes=row["bytes"],
                seconds=max((now - row["started"]).total_seconds(), 0.0),
            )
        return ended

    def remember_failure(self, text: str):
        """Keep the reason the run will give for mail left undelivered: the first
        failure, unless a later one is of a kind that says more (a full mailbox,
        the one thing a user can fix; a full local disk, which stops every delivery).
        `text` may carry its kind (delivery.router.Failure)."""
        kind = getattr(text, "kind", "")
        current = self.__dict__.get("failure_kind", "")
        if not self.__dict__.get("first_failure") or _RANK[kind] > _RANK[current]:
            self.first_failure, self.failure_kind = str(text), kind

    def destination_refused(self, reason: str):
        """The local storage refuses every write (delivery/maildir.py write_error):
        the run is an error of the account, whatever it delivered before."""
        self.error = f"{reason}; mail left on the server"
        self.storage_refusal = reason

    def reason_kind(self) -> str:
        """The kind of the reason the finished run gives in `error`: "" when it is
        not about a full mailbox or full local storage (the account keeps it)."""
        if self.status == self.Status.ERROR:
            # Unless a later error (the connection, at the end) took the refusal's place.
            refusal = self.__dict__.get("storage_refusal", "")
            return STORAGE_FULL if refusal and refusal in self.error else ""
        if self.status == self.Status.PARTIAL:
            return self.__dict__.get("failure_kind", "")
        return ""

    def retry_state(self, now=None) -> str:
        """"attempt 2 of 3, next try in 30 s" while a running session waits to
        reconnect; "" when it never had to retry or is over."""
        if self.status != self.Status.RUNNING or self.attempt < 2:
            return ""
        text = f"attempt {self.attempt} of {self.attempts}"
        now = now or timezone.now()
        if self.next_try and self.next_try > now:
            text += f", next try in {math.ceil((self.next_try - now).total_seconds())} s"
        return text

    def retrying(self, attempt: int, attempts: int, wait_seconds: float, reason: str):
        """Attempt `attempt` failed: say which comes next and when, at once."""
        self.note(f"connection attempt {attempt} of {attempts} failed: {reason}; "
                  f"retrying in {wait_seconds:g} s")
        self.attempt, self.attempts = attempt + 1, attempts
        self.next_try = timezone.now() + dt.timedelta(seconds=wait_seconds)
        Run.objects.filter(pk=self.pk).update(
            attempt=self.attempt, attempts=attempts, next_try=self.next_try)

    def bump(self, **counts):
        """Add to counters in the database now, so progress is visible mid-run."""
        Run.objects.filter(pk=self.pk).update(**{k: F(k) + v for k, v in counts.items()})
        for key, value in counts.items():
            setattr(self, key, getattr(self, key) + value)

    # A summary count is written to the database at least this often (and
    # always by the final save), so a running session's page stays current.
    NOTE_FLUSH = 100

    def note(self, text: str):
        """Add a note; past the first distinct ones, notes are counted by kind (notes.py)."""
        log = self.__dict__.get("_note_log")
        if log is None or log.listed is not self.notes:
            log = NoteLog(self.notes)
        changed = log.add(text)
        self.notes = log.listed = log.as_list()
        self._note_log = log
        if changed or log.summarised % self.NOTE_FLUSH == 0:
            Run.objects.filter(pk=self.pk).update(notes=self.notes)
