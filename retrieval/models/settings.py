"""Global retrieval settings (one record) and per-user overrides."""

import math
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from delivery.recipients import DEFAULT_HEADER_FIELDS
from popadmin.net.reach import parse_reach_entry


def validate_reach_entries(value):
    if not isinstance(value, list):
        raise ValidationError(gettext("A list of networks and host names."))
    for entry in value:
        try:
            parse_reach_entry(entry)
        except ValueError as exc:
            raise ValidationError(str(exc))


# for_mailbox's default: the mailbox's own settings not read yet.
_UNREAD = object()

# Fields a user record may override; None on UserSettings means "inherit".
OVERRIDABLE = (
    "connection_retries",
    "retry_seconds",
    "timeout_seconds",
    "messages_per_download",
    "duplicate_check",
    "poll_minutes",
)


class RetrievalKnobs(models.Model):
    connection_retries = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("Attempts to connect before giving up."),
        verbose_name=_("connection retries"),
    )
    retry_seconds = models.PositiveIntegerField(
        _("retry time (s)"), default=30, help_text=_("Seconds to wait between connection attempts.")
    )
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (s)"),
        default=60,
        validators=[MinValueValidator(1)],
        help_text=_("Seconds of silence from the server before the connection is dropped."),
    )
    messages_per_download = models.PositiveIntegerField(
        default=0,
        help_text=_("Messages per pass; the session is committed after each pass. 0 = all."),
        verbose_name=_("messages per download"),
    )
    duplicate_check = models.BooleanField(
        _("Message-ID duplicate check"),
        default=True,
        help_text=_("Drop a second copy of a message already delivered to the same mailbox."),
    )
    poll_minutes = models.PositiveIntegerField(
        _("poll frequency (minutes)"), default=10, validators=[MinValueValidator(1)]
    )

    class Meta:
        abstract = True


class GlobalSettings(RetrievalKnobs):
    max_concurrent_downloads = models.PositiveIntegerField(
        default=0,
        help_text=_("0 = automatic: 10 for up to 100 accounts, else one per 10 accounts."),
        verbose_name=_("max concurrent downloads"),
    )
    max_sessions_per_host = models.PositiveIntegerField(
        _("maximum sessions per server"),
        default=3,
        help_text=_("Sessions at once to one remote server (host name, any case), so a big "
        "provider is not hammered. 0 = no limit."),
    )
    parse_headers = models.BooleanField(
        _("parse headers for recipients"),
        default=True,
        help_text=_("Catch-all accounts find recipients in the header fields below."),
    )
    header_fields = models.JSONField(default=list, blank=True, verbose_name=_("header fields"))
    accepted_domains = models.JSONField(
        _("accepted recipient domains"),
        default=list,
        blank=True,
        help_text=_("Catch-all accounts only deliver to addresses in these domains."),
    )
    reroute_unknown = models.BooleanField(
        _("re-route unknown recipients to postmaster"), default=False
    )
    max_recipients = models.PositiveIntegerField(
        _("maximum recipients per message"),
        default=50,
        help_text=_("Catch-all: copies of one message beyond this are not made; the run says so. "
        "0 = no limit."),
    )
    service_running = models.BooleanField(
        default=True, help_text=_("When stopped, no new retrieval session starts."),
        verbose_name=_("service running")
    )
    restrict_all_accounts = models.BooleanField(
        _("restrict the network reach of every account"),
        default=False,
        help_text=_("Off: only accounts marked restricted (those users set up themselves) are "
        "held to public addresses. On: every account, those staff made too."),
    )
    allowed_internal_networks = models.JSONField(
        _("internal hosts and networks restricted accounts may reach"),
        default=list,
        blank=True,
        validators=[validate_reach_entries],
        help_text=_('Networks and host names, e.g. ["10.1.2.0/24", "mail.internal.example"]. '
        "Cloud metadata addresses stay unreachable."),
    )
    # Empty: the environment's POPADMIN_ALLOWED_PORTS / POPADMIN_CA_FILE (the defaults).
    allowed_ports = models.JSONField(
        _("ports restricted accounts may reach"),
        default=list,
        blank=True,
        help_text=_("Empty: the environment's POPADMIN_ALLOWED_PORTS (110, 995, 143, 993 unless "
        "set there)."),
    )
    ca_file = models.CharField(
        _("extra trusted CA file"),
        max_length=500,
        blank=True,
        help_text=_("A PEM file of CA certificates trusted for remote servers besides the "
        "system's, e.g. an internal CA. Empty: the environment's POPADMIN_CA_FILE."),
    )
    history_days = models.PositiveIntegerField(
        _("keep retrieval history (days)"),
        default=90,
        validators=[MinValueValidator(31)],
        help_text=_("Runs and deliveries older than this are deleted; hourly totals stay. At "
        "least 31: the duplicate check looks back 30 days."),
    )
    alert_after_minutes = models.PositiveIntegerField(
        _("alert after failing for (minutes)"),
        default=60,
        validators=[MinValueValidator(1)],
        help_text=_("An account failing this long raises an alert (users may set their own)."),
    )
    alert_owners = models.BooleanField(
        _("alert account owners"), default=True,
        help_text=_("Mail the owner of a failing account or full mailbox."),
    )
    alert_admins = models.BooleanField(
        _("alert administrators"), default=True,
        help_text=_("Mail every alert to the administrators (POPADMIN_ALERT_EMAILS, else "
        "active superusers with an email address)."),
    )
    # Set by the dispatcher: its last tick left due accounts waiting for a
    # free slot, so a finished session hands its slot on at once.
    dispatch_backlog = models.BooleanField(default=False, editable=False,
                                           verbose_name=_("dispatch backlog"))

    class Meta:
        verbose_name = _("global retrieval settings")
        verbose_name_plural = _("global retrieval settings")

    def __str__(self):
        return gettext("Global retrieval settings")

    def save(self, *args, **kwargs):
        self.pk = 1
        if not self.header_fields:
            self.header_fields = list(DEFAULT_HEADER_FIELDS)
        self.accepted_domains = [d.strip().lower() for d in self.accepted_domains or []]
        self.allowed_internal_networks = [
            str(e).strip().rstrip(".").lower() for e in self.allowed_internal_networks or []
        ]
        super().save(*args, **kwargs)

    def effective_allowed_ports(self) -> list[int]:
        return list(self.allowed_ports or settings.POPADMIN_ALLOWED_PORTS)

    def effective_ca_file(self) -> str | None:
        return self.ca_file or settings.POPADMIN_CA_FILE

    @classmethod
    def load(cls) -> "GlobalSettings":
        obj, _created = cls.objects.get_or_create(
            pk=1, defaults={"header_fields": list(DEFAULT_HEADER_FIELDS)}
        )
        return obj

    @classmethod
    def locked(cls) -> "GlobalSettings":
        """The record, locked until the transaction ends: every admission
        decision (dispatch, request, session start) holds this one lock.
        SELECT ... FOR UPDATE on PostgreSQL; on SQLite a no-op, where the
        IMMEDIATE transaction already holds the database's write lock.

        On PostgreSQL the transaction also commits without waiting for its
        WAL flush (synchronous_commit off, this transaction only): the lock
        is held until the commit returns, and a flush shared with every other
        database's writes took milliseconds, which every session start then
        waited for in line. What these transactions write is safe to lose in
        a database crash (never a committed one, never corruption; at most
        the last fraction of a second): leases and claims, which the crash
        voids anyway since it drops every session lock (retrieval/locks.py)
        and a claim only delays or repeats a dispatch, which admit makes
        harmless; and the next synchronous commit flushes them all. Only when
        the lock's transaction is its own, never inside a caller's that may
        write more."""
        if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        gs = cls.objects.select_for_update().filter(pk=1).first()
        if gs is None:
            cls.load()
            gs = cls.objects.select_for_update().get(pk=1)
        return gs

    @classmethod
    def is_running(cls) -> bool:
        """The service switch read fresh, cheaply enough to ask after every message."""
        running = cls.objects.filter(pk=1).values_list("service_running", flat=True).first()
        return running is not False  # no record yet means the default: running

    def effective_max_concurrent(self, account_count: int) -> int:
        """The cap, given the number of enabled accounts (account.enabled_account_count)."""
        if self.max_concurrent_downloads:
            return self.max_concurrent_downloads
        return max(10, math.ceil(account_count / 10))


class UserSettings(models.Model):
    """Overrides of the global knobs for one local mailbox; empty = inherit."""

    mailbox = models.OneToOneField(
        "accounts.Mailbox", on_delete=models.CASCADE, related_name="retrieval_settings",
        verbose_name=_("mailbox")
    )
    connection_retries = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(20)],
        verbose_name=_("connection retries")
    )
    retry_seconds = models.PositiveIntegerField(_("retry time (s)"), null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (s)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    messages_per_download = models.PositiveIntegerField(null=True, blank=True,
                                                        verbose_name=_("messages per download"))
    duplicate_check = models.BooleanField(_("Message-ID duplicate check"), null=True, blank=True)
    poll_minutes = models.PositiveIntegerField(
        _("poll frequency (minutes)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )

    alert_after_minutes = models.PositiveIntegerField(
        _("alert after failing for (minutes)"), null=True, blank=True,
        validators=[MinValueValidator(1)],
    )

    class Meta:
        verbose_name = _("per-user retrieval settings")
        verbose_name_plural = _("per-user retrieval settings")

    def __str__(self):
        return gettext("Retrieval settings for %(mailbox)s") % {"mailbox": self.mailbox}


@dataclass(frozen=True)
class EffectiveSettings:
    connection_retries: int
    retry_seconds: int
    timeout_seconds: int
    messages_per_download: int
    duplicate_check: bool
    poll_minutes: int

    @classmethod
    def for_mailbox(
        cls, mailbox, global_settings=None, user_settings=_UNREAD
    ) -> "EffectiveSettings":
        gs = global_settings or GlobalSettings.load()
        values = {name: getattr(gs, name) for name in OVERRIDABLE}
        # `user_settings`: the mailbox's row (or None) as the caller just read
        # it with the mailbox, one query less per session (engine).
        user = user_settings
        if user is _UNREAD:
            user = UserSettings.objects.filter(mailbox=mailbox).first()
        if user:
            for name in OVERRIDABLE:
                if getattr(user, name) is not None:
                    values[name] = getattr(user, name)
        return cls(**values)
