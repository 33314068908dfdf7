"""Global retrieval settings (one record) and per-user overrides."""

import math
from dataclasses import dataclass

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

DEFAULT_HEADER_FIELDS = [
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "To",
    "Cc",
    "Received",
]

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
        help_text="Attempts to connect before giving up.",
    )
    retry_seconds = models.PositiveIntegerField(
        "retry time (s)", default=30, help_text="Seconds to wait between connection attempts."
    )
    timeout_seconds = models.PositiveIntegerField(
        "timeout (s)",
        default=60,
        validators=[MinValueValidator(1)],
        help_text="Seconds of silence from the server before the connection is dropped.",
    )
    messages_per_download = models.PositiveIntegerField(
        default=0,
        help_text="Messages per pass; the session is committed after each pass. 0 = all.",
    )
    duplicate_check = models.BooleanField(
        "Message-ID duplicate check",
        default=True,
        help_text="Drop a second copy of a message already delivered to the same mailbox.",
    )
    poll_minutes = models.PositiveIntegerField(
        "poll frequency (minutes)", default=10, validators=[MinValueValidator(1)]
    )

    class Meta:
        abstract = True


class GlobalSettings(RetrievalKnobs):
    max_concurrent_downloads = models.PositiveIntegerField(
        default=0,
        help_text="0 = automatic: 10 for up to 100 accounts, else one per 10 accounts.",
    )
    parse_headers = models.BooleanField(
        "parse headers for recipients",
        default=True,
        help_text="Catch-all accounts find recipients in the header fields below.",
    )
    header_fields = models.JSONField(default=list, blank=True)
    accepted_domains = models.JSONField(
        "accepted recipient domains",
        default=list,
        blank=True,
        help_text="Catch-all accounts only deliver to addresses in these domains.",
    )
    reroute_unknown = models.BooleanField(
        "re-route unknown recipients to postmaster", default=False
    )
    service_running = models.BooleanField(
        default=True, help_text="When stopped, no new retrieval session starts."
    )

    class Meta:
        verbose_name = "global retrieval settings"
        verbose_name_plural = "global retrieval settings"

    def __str__(self):
        return "Global retrieval settings"

    def save(self, *args, **kwargs):
        self.pk = 1
        if not self.header_fields:
            self.header_fields = list(DEFAULT_HEADER_FIELDS)
        self.accepted_domains = [d.strip().lower() for d in self.accepted_domains or []]
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "GlobalSettings":
        obj, _ = cls.objects.get_or_create(
            pk=1, defaults={"header_fields": list(DEFAULT_HEADER_FIELDS)}
        )
        return obj

    def effective_max_concurrent(self, account_count=None) -> int:
        if self.max_concurrent_downloads:
            return self.max_concurrent_downloads
        if account_count is None:
            from retrieval.models.account import RemoteAccount

            account_count = RemoteAccount.objects.filter(enabled=True).count()
        return max(10, math.ceil(account_count / 10))


class UserSettings(models.Model):
    """Overrides of the global knobs for one local mailbox; empty = inherit."""

    mailbox = models.OneToOneField(
        "accounts.Mailbox", on_delete=models.CASCADE, related_name="retrieval_settings"
    )
    connection_retries = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    retry_seconds = models.PositiveIntegerField("retry time (s)", null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(
        "timeout (s)", null=True, blank=True, validators=[MinValueValidator(1)]
    )
    messages_per_download = models.PositiveIntegerField(null=True, blank=True)
    duplicate_check = models.BooleanField("Message-ID duplicate check", null=True, blank=True)
    poll_minutes = models.PositiveIntegerField(
        "poll frequency (minutes)", null=True, blank=True, validators=[MinValueValidator(1)]
    )

    class Meta:
        verbose_name = "per-user retrieval settings"
        verbose_name_plural = "per-user retrieval settings"

    def __str__(self):
        return f"Retrieval settings for {self.mailbox}"


@dataclass(frozen=True)
class EffectiveSettings:
    connection_retries: int
    retry_seconds: int
    timeout_seconds: int
    messages_per_download: int
    duplicate_check: bool
    poll_minutes: int

    @classmethod
    def for_mailbox(cls, mailbox, global_settings=None) -> "EffectiveSettings":
        gs = global_settings or GlobalSettings.load()
        values = {name: getattr(gs, name) for name in OVERRIDABLE}
        user = UserSettings.objects.filter(mailbox=mailbox).first()
        if user:
            for name in OVERRIDABLE:
                if getattr(user, name) is not None:
                    values[name] = getattr(user, name)
        return cls(**values)
