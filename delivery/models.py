from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from delivery.targets import DeliveryTarget

__all__ = ["Delivery", "DeliveryTarget"]


class Delivery(models.Model):
    """One copy of one message handed to one local mailbox.

    It answers "where did this message go?" and backs the duplicate check
    against recent deliveries to the same mailbox.
    """

    class Result(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        DUPLICATE = "duplicate", _("Duplicate, dropped")
        FAILED = "failed", _("Failed")

    mailbox = models.ForeignKey(
        "accounts.Mailbox", on_delete=models.CASCADE, related_name="deliveries",
        verbose_name=_("mailbox")
    )
    run = models.ForeignKey(
        "retrieval.Run", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="deliveries", verbose_name=_("run")
    )
    message_key = models.CharField(
        max_length=80, help_text=_("sha256 of the Message-ID, or of the content without one."),
        verbose_name=_("message key")
    )
    # A Message-ID match is a duplicate only when this matches too (see
    # delivery.message); blank on rows written before it existed.
    content_digest = models.CharField(max_length=64, blank=True, db_default="",
                                      verbose_name=_("content digest"))
    message_id = models.CharField(max_length=998, blank=True, verbose_name=_("message id"))
    # From the message's own headers, for people searching "where did it go?".
    sender = models.CharField(_("from"), max_length=300, blank=True, db_default="")
    subject = models.CharField(max_length=300, blank=True, db_default="", verbose_name=_("subject"))
    sent = models.DateTimeField(_("date"), null=True, blank=True)
    folder = models.CharField(max_length=200, blank=True, verbose_name=_("folder"))
    backend = models.CharField(max_length=16, default="maildir", verbose_name=_("backend"))
    result = models.CharField(max_length=10, choices=Result.choices, verbose_name=_("result"))
    detail = models.TextField(blank=True, verbose_name=_("detail"))
    size = models.PositiveBigIntegerField(default=0, verbose_name=_("size"))
    recipient = models.CharField(max_length=320, blank=True, verbose_name=_("recipient"))
    # Names "this message from this remote account": a retry after a partial
    # delivery skips the mailboxes that already have their copy.
    token = models.CharField(max_length=32, blank=True, db_index=True, verbose_name=_("token"))
    # Where the destination put the copy, when it says: IMAP APPENDUID "uidvalidity/uid".
    remote_uid = models.CharField(_("remote UID"), max_length=40, blank=True, db_default="")
    created = models.DateTimeField(default=timezone.now, verbose_name=_("created"))

    class Meta:
        ordering = ["-created"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [
            models.Index(fields=["mailbox", "message_key", "created"]),
            # Pruning old history walks rows by age (retrieval/retention.py).
            models.Index(fields=["created"], name="delivery_created_idx"),
            # The mail page (retrieval/mail_paging.py) walks a mailbox's delivered
            # messages by (arrival, id) from a cursor, whole or one folder.
            models.Index(fields=["mailbox", "-created", "-id"], name="delivery_mail_list_idx",
                         condition=models.Q(result="delivered")),
            models.Index(fields=["mailbox", "folder", "-created", "-id"],
                         name="delivery_mail_folder_idx", condition=models.Q(result="delivered")),
            # How many delivered, the newest id, what arrived since an id: index-only.
            models.Index(fields=["mailbox", "id"], name="delivery_mail_ids_idx",
                         condition=models.Q(result="delivered")),
            # The folders of copies delivered elsewhere, for the side panel.
            models.Index(fields=["mailbox", "folder"], name="delivery_mail_elsewhere_idx",
                         condition=models.Q(result="delivered") & ~models.Q(backend="maildir")),
        ]
        verbose_name_plural = _("deliveries")

    def __str__(self):
        return f"{self.message_id or self.message_key} → {self.mailbox} ({self.result})"
