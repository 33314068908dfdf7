"""Personal API tokens: what a script presents as `Authorization: Bearer <token>`.

Only a SHA-256 digest of the token is stored; the token itself is shown once, when it
is made. Its first characters (the prefix) are kept in the clear so that the owner can
tell their tokens apart on the token page and in the audit trail.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens", verbose_name=_("user"))
    name = models.CharField(max_length=100, help_text=_("What the token is for, e.g. the "
                            "script or host that uses it."), verbose_name=_("name"))
    prefix = models.CharField(max_length=16, help_text=_("The token's first characters, "
                              "shown to tell tokens apart."), verbose_name=_("prefix"))
    digest = models.CharField(max_length=64, unique=True, verbose_name=_("digest"))
    writes = models.BooleanField(_("read-write"), default=False,
                                 help_text=_("Off: the token can only read."))
    staff = models.BooleanField(_("whole installation"), default=False,
                                help_text=_("A staff member's token that acts with their admin "
                                            "permissions on every account, not just their own."))
    created = models.DateTimeField(default=timezone.now, verbose_name=_("created"))
    expires = models.DateTimeField(null=True, blank=True, verbose_name=_("expires"))
    last_used = models.DateTimeField(null=True, blank=True, verbose_name=_("last used"))
    revoked = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked"))

    class Meta:
        ordering = ["-created"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope(self) -> str:
        access = "read-write" if self.writes else "read-only"
        return f"{access}, whole installation" if self.staff else access

    def state(self, now=None) -> str:
        """"active", "revoked" or "expired"."""
        now = now or timezone.now()
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"
