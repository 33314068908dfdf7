"""A remote mailbox to collect from, and what we have already taken from it."""

import datetime as dt
import math
import time
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from delivery.backends import MAILBOX_FULL, STORAGE_FULL
from delivery.maildir import folder_problem
from popadmin import secrets
from popadmin.secrets import validate_credential
from retrieval.models.claim import AccountClaim


def live_lease(now) -> Q:
    """Accounts a session holds right now; an expired lease is a dead worker's."""
    return Q(lease_token__isnull=False, lease_expires__gt=now)


def live_claim(now) -> Q:
    """Accounts with a fetch task queued and not yet started (their AccountClaim).

    Read through the claims table: filter() joins it from its `until` index,
    exclude() probes it per account. Never OR it with live_lease: across two
    tables that condition scans every account (dispatcher.in_flight).
    """
    return Q(claim__until__gt=now)


def in_flight(now) -> tuple[models.QuerySet, models.QuerySet]:
    """Accounts a session holds, and those (others) a queued task waits for.

    Two querysets, each read on its own small index: one condition ORing a
    lease on the account row with a claim in its own table would read every
    account. Count and list them part by part.
    """
    leased = RemoteAccount.objects.filter(live_lease(now)).order_by()
    return leased, RemoteAccount.objects.filter(live_claim(now)).exclude(live_lease(now)).order_by()


def folder_map_problem(mapping) -> str | None:
    """Why a folder mapping cannot be used, or None."""
    if not isinstance(mapping, dict):
        return 'Give the mapping as {"remote folder": "destination folder", ...}.'
    for source, folder in mapping.items():
        if not isinstance(folder, str) or not source:
            return "Each remote folder needs a destination folder name (text)."
        if problem := folder_problem(folder):
            return f"Invalid folder name {folder!r}: {problem}."
    return None


class RemoteAccount(models.Model):
    class ErrorKind(models.TextChoices):
        OTHER = "", _("Other")
        MAILBOX_FULL = MAILBOX_FULL, _("Local mailbox over its quota")
        STORAGE_FULL = STORAGE_FULL, _("Local storage full or not writable")

    class Protocol(models.TextChoices):
        POP3 = "pop3", _("POP3")
        IMAP = "imap", _("IMAP")

    class Security(models.TextChoices):
        TLS = "tls", _("TLS (implicit, e.g. POP3S 995 / IMAPS 993)")
        STARTTLS = "starttls", _("STARTTLS (STLS)")
        NONE = "none", _("None: plain text (password visible on the network)")

    class Keep(models.TextChoices):
        DELETE = "delete", _("Delete after download")
        KEEP = "keep", _("Leave a copy on the server")
        KEEP_DAYS = "keep_days", _("Leave a copy for N days")

    class AuthMethod(models.TextChoices):
        PASSWORD = "password", _("Password")
        XOAUTH2 = "xoauth2", _("OAuth2 sign-in (XOAUTH2: Gmail, Microsoft 365)")
        OAUTHBEARER = "oauthbearer", _("OAuth2 sign-in (OAUTHBEARER, RFC 7628)")

    class Mode(models.TextChoices):
        SINGLE = "single", _("Single user")
        CATCHALL = "catchall", _("Catch-all (distribute by recipient headers)")

    DEFAULT_PORTS = {
        ("pop3", "tls"): 995,
        ("pop3", "starttls"): 110,
        ("pop3", "none"): 110,
        ("imap", "tls"): 993,
        ("imap", "starttls"): 143,
        ("imap", "none"): 143,
    }

    owner = models.ForeignKey(
        "accounts.Mailbox", verbose_name=_("owner"), on_delete=models.CASCADE,
        related_name="remote_accounts",
    )
    name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("Optional label."))
    protocol = models.CharField(_("protocol"), max_length=8, choices=Protocol.choices,
                                default=Protocol.POP3)
    security = models.CharField(_("security"), max_length=10, choices=Security.choices,
                                default=Security.TLS)
    host = models.CharField(_("host"), max_length=253)
    port = models.PositiveIntegerField(_("port"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text=_("Empty: 110/995 for POP3, 143/993 for IMAP."),
    )
    username = models.CharField(_("username"), max_length=255, validators=[validate_credential])
    password_encrypted = models.TextField(blank=True, editable=False,
                                          verbose_name=_("password encrypted"))
    # OAuth2 methods log in with the account's grant (OAuthGrant, account.oauth_grant).
    auth_method = models.CharField(
        _("sign-in method"), max_length=12, choices=AuthMethod.choices, default=AuthMethod.PASSWORD
    )
    verify_tls = models.BooleanField(
        _("verify TLS certificate"),
        default=True,
        help_text=_("Turning this off allows anyone on the network path to read the mail."),
    )
    # Leaving a copy is the safe default: a first test or a wrong setting loses no mail.
    keep_policy = models.CharField(_("keep policy"), max_length=10, choices=Keep.choices,
                                   default=Keep.KEEP)
    keep_days = models.PositiveIntegerField(_("keep days"), default=7,
                                            validators=[MinValueValidator(1)])
    folders = models.JSONField(_("folders"),
        default=list, blank=True, help_text=_('IMAP folders to read; empty means ["INBOX"].')
    )
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.SINGLE)
    target_folder = models.CharField(
        _("destination folder"),
        max_length=200,
        blank=True,
        help_text=_("Folder in the local mailbox, e.g. Gmail or Work/Archive. Empty: INBOX."),
    )
    # Remote folder -> destination folder, e.g. {"INBOX": "Old ISP", "Spam": "Junk"};
    # a folder not named here goes to target_folder.
    folder_map = models.JSONField(
        _("folder mapping"), default=dict, blank=True,
        help_text=_('Remote folder → destination folder, e.g. {"INBOX": "Old ISP", '
        '"Spam": "Junk"}. Folders not listed go to the destination folder above. '
        "Missing folders are created."),
    )
    # Before the mailbox's own target and the default (delivery.targets.target_for).
    delivery_target = models.ForeignKey(
        "delivery.DeliveryTarget", verbose_name=_("delivery target"), on_delete=models.PROTECT,
        null=True, blank=True,
        related_name="remote_accounts",
        help_text=_("Where this account's mail goes, e.g. an IMAP mailbox at Gmail. "
        "Empty: the mailbox's target, else the default."),
    )
    poll_minutes = models.PositiveIntegerField(
        _("poll frequency (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: the owner's or the global default."),
    )
    max_message_mb = models.PositiveIntegerField(
        _("maximum message size (MB)"),
        default=0,
        help_text=_("Bigger messages stay on the server and are listed in the run. 0 = no limit."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    # IMAP only: a watcher holds an IDLE connection and fetches as soon as the
    # server reports new mail (retrieval/watch/); the owner's groups may turn it off.
    push = models.BooleanField(
        _("push (IMAP IDLE)"),
        default=True,
        help_text=_("IMAP accounts: new mail is fetched within seconds of arriving, while "
                    "the server offers IDLE; scheduled polling drops to a safety check."),
    )
    # Accounts users set up themselves may reach public addresses only (the
    # server side request forgery guard, retrieval/network_reach.py); staff
    # accounts are unrestricted unless the global settings restrict all.
    network_restricted = models.BooleanField(
        _("restricted network reach"),
        default=False,
        help_text=_("Public addresses and the allowed ports only, plus the internal hosts "
        "and networks allowed in the global settings. Set for accounts users create."),
    )

    # Set when the owner added the account on the user pages (self-service), so an
    # import that would rewrite it warns and asks to confirm first
    # (docs/reference/import-format.md).
    created_by_user = models.BooleanField(
        _("set up by its user"), default=False, editable=False,
        help_text=_("Added by the mailbox's user on their own pages, not by staff or an import."),
    )

    last_check = models.DateTimeField(_("last check"), null=True, blank=True, editable=False)
    last_status = models.CharField(_("last status"), max_length=16, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    # What the last error is about when it is a full mailbox or full local storage
    # (Run.reason_kind): the "mailbox full" list and the alerts read this, not the words.
    last_error_kind = models.CharField(_("last error kind"), max_length=16, blank=True,
                                       editable=False,
                                       choices=ErrorKind.choices)
    next_check = models.DateTimeField(_("next check"), null=True, blank=True, db_index=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0,
                                                       editable=False)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True, editable=False)

    # The lease: who holds the account's one session and until when.
    lease_token = models.UUIDField(null=True, blank=True, editable=False,
                                   verbose_name=_("lease token"))
    lease_expires = models.DateTimeField(_("lease expires"), null=True, blank=True, editable=False)
    # A queued fetch task's claim is a row of its own (retrieval/models/claim.py).
    # The trigger of a check someone asked for that has not had its session
    # yet (no free slot): the dispatcher serves these before scheduled work.
    pending_trigger = models.CharField(max_length=10, blank=True, editable=False,
                                       verbose_name=_("pending trigger"))
    # A push (new mail reported by the watcher) that came while a fetch was
    # queued or running: one more fetch follows that session (retrieval/push.py).
    push_dirty = models.BooleanField(default=False, editable=False, verbose_name=_("push dirty"))
    # When the watcher saw the earliest new mail not yet fetched: the push
    # latency histogram counts from here to the delivering session's end.
    push_seen = models.DateTimeField(null=True, blank=True, editable=False,
                                     verbose_name=_("push seen"))

    created = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))

    class Meta:
        verbose_name = _("remote account")
        verbose_name_plural = _("remote accounts")
        ordering = ["owner__address", "host", "username"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "host", "username"], name="unique_account_per_owner_host_user"
            )
        ]
        # Partial indexes keep the dispatcher's queries cheap at 100,000 accounts:
        # the due scan walks the first index in waiting order; the others hold
        # only the few rows with a lease or a pending request.
        indexes = [
            models.Index(
                fields=["next_check", "id"], condition=Q(enabled=True), name="account_due_idx"
            ),
            models.Index(
                fields=["lease_expires"],
                condition=Q(lease_token__isnull=False),
                name="account_lease_idx",
            ),
            models.Index(
                fields=["next_check"], condition=~Q(pending_trigger=""), name="account_request_idx"
            ),
            # The due scan per server (retrieval/due_scan.py): the distinct servers,
            # and each one's accounts in waiting order.
            models.Index(
                Lower("host"), F("next_check"), F("id"), condition=Q(enabled=True),
                name="account_host_due_idx",
            ),
        ]

    # The session lock (retrieval.locks) this instance holds between
    # take_lease and release_lease.
    session_lock = None

    def __str__(self):
        # The name only: pages that list accounts mark an unverified certificate with a
        # badge of its own (retrieval/admin/display.py), not glued onto every name.
        return self.name or f"{self.username}@{self.host} ({self.get_protocol_display()})"

    @property
    def tls_unverified(self) -> bool:
        return not self.verify_tls and self.security != self.Security.NONE

    def clean(self):
        super().clean()
        if self.folders and not all(isinstance(f, str) and f for f in self.folders):
            raise ValidationError({"folders": gettext("Folders must be a list of folder names.")})
        if problem := folder_problem(self.target_folder):
            raise ValidationError({"target_folder": gettext("Invalid folder name: %(problem)s.") % {
                "problem": problem}})
        if problem := folder_map_problem(self.folder_map):
            raise ValidationError({"folder_map": problem})

    @property
    def effective_port(self) -> int:
        return self.port or self.DEFAULT_PORTS[(self.protocol, self.security)]

    @property
    def effective_folders(self) -> list[str]:
        return list(self.folders) or ["INBOX"]

    def destination_folder(self, source_folder: str) -> str:
        """Where mail from `source_folder` goes: the mapping, else target_folder."""
        mapping = self.folder_map if isinstance(self.folder_map, dict) else {}
        if source_folder in mapping:
            return mapping[source_folder]
        if source_folder.upper() == "INBOX":
            # "inbox" and "INBOX" are the same folder (RFC 3501 5.1).
            for name, folder in mapping.items():
                if name.upper() == "INBOX":
                    return folder
        return self.target_folder

    def set_password(self, raw: str):
        validate_credential(raw)
        self.password_encrypted = secrets.encrypt(raw)

    def get_password(self) -> str:
        return secrets.decrypt(self.password_encrypted)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def failure_summary(self) -> str:
        """"failing since 2025-05-03 14:02, 4 attempts", or "" while the account works."""
        attempts = self.consecutive_failures
        if not attempts:
            return ""
        if not self.failing_since:
            # Failures counted without their start (an imported or older row).
            return ngettext("failing, %(count)s attempt", "failing, %(count)s attempts in a row",
                            attempts) % {"count": attempts}
        since = date_format(timezone.localtime(self.failing_since), "SHORT_DATETIME_FORMAT")
        return ngettext("failing since %(since)s, %(count)s attempt",
                        "failing since %(since)s, %(count)s attempts",
                        attempts) % {"since": since, "count": attempts}

    failure_summary.fget.short_description = _("failing")

    # --- lease primitives (invariant "One session per account"): the UPDATEs
    # that write the lease row. Who may take it is decided by the dispatcher
    # (retrieval.admission.admit), under the admission lock. ---

    def take_lease(self, seconds: int) -> uuid.UUID | None:
        """Write a fresh lease on the row, and drop the claim that queued it.

        Unconditional on the old lease: the caller holds the account's
        session lock (admission.admit keeps it in session_lock), so a lease
        still on the row is a dead worker's. None when the account is gone.
        """
        token = uuid.uuid4()
        got = RemoteAccount.objects.filter(pk=self.pk).update(
            lease_token=token,
            lease_expires=timezone.now() + dt.timedelta(seconds=seconds),
            pending_trigger="",
        )
        if got != 1:
            return None
        AccountClaim.objects.filter(account_id=self.pk).delete()
        self.lease_token = token
        return token

    def renew_lease(self, token: uuid.UUID, seconds: int) -> bool:
        expires = timezone.now() + dt.timedelta(seconds=seconds)
        return bool(
            RemoteAccount.objects.filter(pk=self.pk, lease_token=token).update(
                lease_expires=expires
            )
        )

    def clear_lease(self, token: uuid.UUID):
        """Clear the lease row if it is still this token's (the session lock stays held)."""
        RemoteAccount.objects.filter(pk=self.pk, lease_token=token).update(
            lease_token=None, lease_expires=None
        )
        self.lease_cleared(token)

    def lease_cleared(self, token: uuid.UUID):
        """The row no longer holds this token's lease (cleared by the caller's own
        statement): release_lease need not write it again."""
        self._lease_cleared = token

    def release_lease(self, token: uuid.UUID):
        """Clear the lease row, then let go of the session lock this instance holds.

        In that order, so a lease whose lock is free is always a dead one.
        The lock goes even if the database does not answer: a lease row left
        behind is freed by the next dispatcher tick. A row already cleared
        (clear_lease, in finish_run's transaction) is not written again.
        """
        try:
            if getattr(self, "_lease_cleared", None) != token:
                self.clear_lease(token)
        finally:
            lock, self.session_lock = self.session_lock, None
            if lock is not None:
                lock.release()


# Counting 100,000 accounts takes tens of milliseconds, too long to repeat at
# every session start under the admission lock; the automatic cap moves by
# one per ten accounts, so a count half a minute old is as good.
_count_cache = {"at": -math.inf, "value": 0}
# Above this many, even the dispatcher tick reuses a count up to 30 s old: at a
# million accounts counting takes a few hundred milliseconds, and a count that
# old moves the automatic cap by a fraction of a percent.
LARGE_COUNT = 10_000


def enabled_account_count(max_age: float = 0, max_age_when_large: float | None = None) -> int:
    now = time.monotonic()
    if max_age_when_large is not None and _count_cache["value"] >= LARGE_COUNT:
        max_age = max(max_age, max_age_when_large)
    if now - _count_cache["at"] > max_age:
        _count_cache["value"] = RemoteAccount.objects.filter(enabled=True).count()
        _count_cache["at"] = now
    return _count_cache["value"]
