"""What was taken from an account: its seen-state, one row per message."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from retrieval.models.account import RemoteAccount


class SeenMessage(models.Model):
    """A message already delivered from an account, or recorded as taken by an import.

    Written as soon as the message is delivered, not at the end of the
    session, so a crash redelivers nothing (invariant "No duplicates"). `uid` is the POP3
    UIDL, "<folder>/<uidvalidity>/<uid>" for IMAP, or "sha256:<hex>" when the
    server has no UIDL. A uid alone never allows a deletion: the listed size
    and the header digest must still match (retrieval/identity.py),
    and an imported row never allows one (docs/architecture/no-loss/imported-state.md).
    """

    class Origin(models.TextChoices):
        TAKEN = "taken", _("Delivered here")
        IMPORTED = "imported", _("Imported (another retriever's state or the server's \\Seen flag)")

    account = models.ForeignKey(RemoteAccount, on_delete=models.CASCADE, related_name="seen")
    uid = models.CharField(max_length=512)
    first_seen = models.DateTimeField(default=timezone.now)
    message_key = models.CharField(max_length=80, blank=True)
    # With message_key, recognises this mail after the server renumbers a
    # folder (delivery.message explains the digest); blank on older rows.
    content_digest = models.CharField(max_length=64, blank=True, db_default="")
    # The size the server listed when the message was taken: a message listed
    # under this uid with another size is a different one. Null on imported
    # rows and on rows written before sizes were kept.
    size = models.BigIntegerField(null=True, blank=True)
    # SHA-256 of the header block as taken, compared with the server's (POP3 TOP,
    # IMAP BODY.PEEK[HEADER]) before a deletion (retrieval/identity.py).
    header_digest = models.CharField(max_length=64, blank=True, db_default="")
    # Imported rows stop a redelivery but never cause a deletion.
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.TAKEN,
                              db_default=Origin.TAKEN)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "uid"], name="unique_seen_uid")
        ]

    def __str__(self):
        return self.uid
