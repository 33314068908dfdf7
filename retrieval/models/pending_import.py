"""An uploaded import between its preview and its confirmation (retrieval/migration/pending.py)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PendingImport(models.Model):
    """The files of one previewed import, encrypted (they hold passwords).

    Held here rather than in the staff member's session: a session is read and
    written with every page, and uploads of a few megabytes made every later
    page slow. Only a digest of the one-time token is stored; the token itself
    lives in the session and the confirm form.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    token_digest = models.CharField(max_length=64, unique=True)
    job_encrypted = models.TextField()
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("pending import")

    def __str__(self):
        return f"Import previewed by {self.user} at {self.created:%Y-%m-%d %H:%M}"
