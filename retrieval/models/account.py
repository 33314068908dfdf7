"""A remote mailbox to collect from, and what we have already taken from it."""

import datetime as dt
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from retrieval import crypto

FORBIDDEN_CREDENTIAL_CHARS = ("\r", "\n", "\0")


def validate_credential(value):
    # Any character works in a credential except those that end a protocol line.
    if any(ch in value for ch in FORBIDDEN_CREDENTIAL_CHARS):
        raise ValidationError("Carriage return, line feed and NUL are not allowed here.")


class RemoteAccount(models.Model):
    class Protocol(models.TextChoices):
        POP3 = "pop3", "POP3"
        IMAP = "imap", "IMAP"

    class Security(models.TextChoices):
        TLS = "tls", "TLS (implicit, e.g. POP3S 995 / IMAPS 993)"
        STARTTLS = "starttls", "STARTTLS (STLS)"
        NONE = "none", "None: plain text (password visible on the network)"

    class Keep(models.TextChoices):
        DELETE = "delete", "Delete after download"
        KEEP = "keep", "Leave a copy on the server"
        KEEP_DAYS = "keep_days", "Leave a copy for N days"

    class Mode(models.TextChoices):
        SINGLE = "single", "Single user"
        CATCHALL = "catchall", "Catch-all (distribute by recipient headers)"

    DEFAULT_PORTS = {
        ("pop3", "tls"): 995,
        ("pop3", "starttls"): 110,
        ("pop3", "none"): 110,
        ("imap", "tls"): 993,
        ("imap", "starttls"): 143,
        ("imap", "none"): 143,
    }

    owner = models.ForeignKey(
        "accounts.Mailbox", on_delete=models.CASCADE, related_name="remote_accounts"
    )
    name = models.CharField(max_length=100, blank=True, help_text="Optional label.")
    protocol = models.CharField(max_length=8, choices=Protocol.choices, default=Protocol.POP3)
    security = models.CharField(max_length=10, choices=Security.choices, default=Security.TLS)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="Empty: 110/995 for POP3, 143/993 for IMAP.",
    )
    username = models.CharField(max_length=255, validators=[validate_credential])
    password_encrypted = models.TextField(blank=True, editable=False)
    verify_tls = models.BooleanField(
        "verify TLS certificate",
        default=True,
        help_text="Turning this off allows anyone on the network path to read the mail.",
    )
    keep_policy = models.CharField(max_length=10, choices=Keep.choices, default=Keep.DELETE)
    keep_days = models.PositiveIntegerField(default=7, validators=[MinValueValidator(1)])
    folders = models.JSONField(
        default=list, blank=True, help_text='IMAP folders to read; empty means ["INBOX"].'
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.SINGLE)
    target_folder = models.CharField(
        "destination folder",
        max_length=200,
        blank=True,
        help_text="Folder in the local mailbox, e.g. Gmail or Work/Archive. Empty: INBOX.",
    )
    poll_minutes = models.PositiveIntegerField(
        "poll frequency (minutes)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Empty: the owner's or the global default.",
    )
    max_message_mb = models.PositiveIntegerField(
        "maximum message size (MB)",
        default=0,
        help_text="Bigger messages stay on the server and are listed in the run. 0 = no limit.",
    )
    enabled = models.BooleanField(default=True)

    last_check = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=16, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    next_check = models.DateTimeField(null=True, blank=True, db_index=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)

    # The lease: who holds the account's one session and until when.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires = models.DateTimeField(null=True, blank=True, editable=False)

    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner__address", "host", "username"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "host", "username"], name="unique_account_per_owner_host_user"
            )
        ]

    def __str__(self):
        label = self.name or f"{self.username}@{self.host} ({self.get_protocol_display()})"
        # Every list, history row and picker that names the account carries this.
        if self.tls_unverified:
            label += " ⚠ TLS certificate not verified"
        return label

    @property
    def tls_unverified(self) -> bool:
        return not self.verify_tls and self.security != self.Security.NONE

    def clean(self):
        super().clean()
        if self.folders and not all(isinstance(f, str) and f for f in self.folders):
            raise ValidationError({"folders": "Folders must be a list of folder names."})
        if self.target_folder and any(ch in self.target_folder for ch in "\r\n\0"):
            raise ValidationError({"target_folder": "Invalid folder name."})

    @property
    def effective_port(self) -> int:
        return self.port or self.DEFAULT_PORTS[(self.protocol, self.security)]

    @property
    def effective_folders(self) -> list[str]:
        return list(self.folders) or ["INBOX"]

    def set_password(self, raw: str):
        validate_credential(raw)
        self.password_encrypted = crypto.encrypt(raw)

    def get_password(self) -> str:
        return crypto.decrypt(self.password_encrypted)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    # --- lease (invariant 3): a conditional UPDATE, no lock server needed ---

    def acquire_lease(self, seconds: int) -> uuid.UUID | None:
        now = timezone.now()
        token = uuid.uuid4()
        got = (
            RemoteAccount.objects.filter(pk=self.pk)
            .filter(Q(lease_token__isnull=True) | Q(lease_expires__lt=now))
            .update(lease_token=token, lease_expires=now + dt.timedelta(seconds=seconds))
        )
        if got != 1:
            return None
        self.lease_token = token
        return token

    def renew_lease(self, token: uuid.UUID, seconds: int) -> bool:
        expires = timezone.now() + dt.timedelta(seconds=seconds)
        return bool(
            RemoteAccount.objects.filter(pk=self.pk, lease_token=token).update(
                lease_expires=expires
            )
        )

    def release_lease(self, token: uuid.UUID):
        RemoteAccount.objects.filter(pk=self.pk, lease_token=token).update(
            lease_token=None, lease_expires=None
        )


class SeenMessage(models.Model):
    """A message already delivered (or deliberately skipped) from an account.

    Written as soon as the message is delivered, not at the end of the
    session, so a crash redelivers nothing (invariant 2). `uid` is the POP3
    UIDL, "<folder>/<uidvalidity>/<uid>" for IMAP, or "sha256:<hex>" when the
    server has no UIDL.
    """

    account = models.ForeignKey(RemoteAccount, on_delete=models.CASCADE, related_name="seen")
    uid = models.CharField(max_length=512)
    first_seen = models.DateTimeField(default=timezone.now)
    message_key = models.CharField(max_length=80, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "uid"], name="unique_seen_uid")
        ]

    def __str__(self):
        return self.uid
