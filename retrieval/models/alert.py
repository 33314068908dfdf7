"""Alert episodes: one per problem while it lasts, so each is told once and its end once."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AlertEpisode(models.Model):
    class Kind(models.TextChoices):
        # key: the remote server's host name; every failing account on it
        # shares the episode, so a provider outage is one alert, not a hundred.
        ACCOUNTS_FAILING = "failing", _("Accounts failing")
        MAILBOX_FULL = "mailbox_full", _("Mailbox full")  # key: the account id
        SILENT = "silent", _("Worker or beat silent")  # key: the role ("worker", "beat")
        SIGN_IN_EXPIRED = "sign_in_expired", _("Sign-in expired")  # key: the account id
        # key: the delivery target's id; an IMAP APPEND target signs in for every
        # mailbox delivered there, and only an administrator can sign it in again.
        TARGET_SIGN_IN_EXPIRED = "target_sign_in", _("Delivery target sign-in expired")
        # key: the account id; messages the server would not send, left on it
        # after MAX_ATTEMPTS (retrieval/refusals.py).
        MESSAGES_REFUSED = "refused", _("Messages left on the server")
        # key: which place ("mail_root", "spool"); low on space, read-only, or
        # refusing the writes of accounts' deliveries (retrieval/local_storage.py).
        STORAGE = "storage", _("Local storage full")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=300)
    opened = models.DateTimeField()
    closed = models.DateTimeField(null=True, blank=True)
    # The problem in words, as last seen (names the accounts of a server).
    summary = models.TextField(blank=True)
    # Accounts in the episode, and the ids whose owners were told already.
    account_ids = models.JSONField(default=list, blank=True)
    owners_told = models.JSONField(default=list, blank=True)
    # When the "open" and the "recovered" notices went out; None while
    # pending, so a failed send is retried at the next evaluation.
    opened_notified = models.DateTimeField(null=True, blank=True)
    closed_notified = models.DateTimeField(null=True, blank=True)
    last_notified = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], condition=Q(closed__isnull=True),
                name="one_open_episode_per_problem",
            )
        ]

    def __str__(self):
        state = "open" if self.closed is None else "closed"
        return f"{self.get_kind_display()}: {self.key} ({state})"
