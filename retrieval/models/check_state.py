"""What the cheap checks keep (retrieval/check_batch.py): per IMAP folder, what
its last check saw; and running totals of checks for /metrics.
"""

from django.db import models


class FolderMark(models.Model):
    """An IMAP folder's STATUS as of the last check that found it handled.

    `uidnext`/`uidvalidity` are the folder's UIDNEXT and UIDVALIDITY at a check
    after which every message below UIDNEXT was dealt with: found with nothing
    new, or handed to a fetch that then ended without error. The same two
    numbers at the next check mean no message arrived. The `pending_*` pair
    is what a check saw when it handed the account to a fetch; it becomes the
    mark once a fetch has ended well after `pending_since`, never before, so
    a fetch that fails leaves the next check still finding something new.

    Derived state, rebuilt by the next check: not exported, and an account
    edit drops it (retrieval/status.reset_after_edit).
    """

    account = models.ForeignKey("retrieval.RemoteAccount", on_delete=models.CASCADE,
                                related_name="folder_marks")
    folder = models.CharField(max_length=512)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    uidnext = models.BigIntegerField(null=True, blank=True)
    pending_uidvalidity = models.BigIntegerField(null=True, blank=True)
    pending_uidnext = models.BigIntegerField(null=True, blank=True)
    pending_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "folder"],
                                               name="unique_folder_mark")]

    def __str__(self):
        return f"{self.folder}: {self.uidvalidity}/{self.uidnext}"


class CheckTotals(models.Model):
    """One row (pk 1) of running totals, added to by each batch in one statement."""

    checks = models.PositiveBigIntegerField(default=0)
    # Checks that found something (or failed) and handed the account to a fetch.
    handed_on = models.PositiveBigIntegerField(default=0)
    tls_full = models.PositiveBigIntegerField("full TLS handshakes", default=0)
    tls_resumed = models.PositiveBigIntegerField("resumed TLS sessions", default=0)

    class Meta:
        verbose_name_plural = "check totals"

    def __str__(self):
        return f"{self.checks} checks"
