from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models


def validate_alias_list(value):
    if not isinstance(value, list):
        raise ValidationError("Aliases must be a list of addresses.")
    for alias in value:
        validate_email(alias)


class Mailbox(models.Model):
    """A local mailbox that fetched mail is delivered into."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="mailbox",
        help_text="The login that owns this mailbox and sees it on the mail page.",
    )
    address = models.EmailField(unique=True)
    aliases = models.JSONField(default=list, blank=True, validators=[validate_alias_list])
    quota_mb = models.PositiveIntegerField(default=0, help_text="0 means no quota.")
    is_postmaster = models.BooleanField(
        "postmaster",
        default=False,
        help_text="Receives catch-all mail for unknown recipients when re-routing is on.",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "mailboxes"

    def __str__(self):
        return self.address

    def save(self, *args, **kwargs):
        self.address = self.address.strip().lower()
        self.aliases = [a.strip().lower() for a in self.aliases or []]
        super().save(*args, **kwargs)

    @property
    def localpart(self):
        return self.address.rsplit("@", 1)[0]

    @property
    def domain(self):
        return self.address.rsplit("@", 1)[1]

    @property
    def maildir(self) -> Path:
        return Path(settings.MAIL_ROOT) / self.domain / self.localpart
