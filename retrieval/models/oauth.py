"""OAuth2 sign-in for remote accounts: the providers the admin sets up, and each account's grant.

Secrets (client secret, refresh and access tokens) are encrypted at rest
with the same keys as remote passwords (popadmin/secrets.py) and are never
part of a form, a list or a log line.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from popadmin import secrets

GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
GOOGLE_DEVICE = "https://oauth2.googleapis.com/device/code"
GOOGLE_REVOKE = "https://oauth2.googleapis.com/revoke"
MICROSOFT_BASE = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
MICROSOFT_SCOPES = (
    "https://outlook.office.com/POP.AccessAsUser.All "
    "https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid email"
)


class OAuthProvider(models.Model):
    class Preset(models.TextChoices):
        GOOGLE = "google", _("Google (Gmail, Google Workspace)")
        MICROSOFT = "microsoft", _("Microsoft (Microsoft 365, Outlook.com)")
        CUSTOM = "custom", _("Other (enter the endpoints)")

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    preset = models.CharField(max_length=10, choices=Preset.choices, default=Preset.CUSTOM,
                              verbose_name=_("preset"))
    tenant = models.CharField(
        _("Microsoft tenant"),
        max_length=100,
        blank=True,
        help_text=_("Microsoft only: common, consumers, organizations or your tenant id. "
        "Empty: common."),
    )
    client_id = models.CharField(max_length=255, verbose_name=_("client id"))
    client_secret_encrypted = models.TextField(blank=True, editable=False,
                                               verbose_name=_("client secret encrypted"))
    authorization_endpoint = models.URLField(max_length=500, blank=True,
                                             verbose_name=_("authorization endpoint"))
    token_endpoint = models.URLField(max_length=500, blank=True, verbose_name=_("token endpoint"))
    device_endpoint = models.URLField(
        _("device authorization endpoint"), max_length=500, blank=True,
        help_text=_("For the device-code flow (RFC 8628), when no browser can reach popadmin."),
    )
    revocation_endpoint = models.URLField(max_length=500, blank=True,
                                          verbose_name=_("revocation endpoint"))
    introspection_endpoint = models.URLField(max_length=500, blank=True,
                                             verbose_name=_("introspection endpoint"))
    scopes = models.CharField(max_length=1000, blank=True, help_text=_("Space-separated."),
                              verbose_name=_("scopes"))
    refresh_token_days = models.PositiveIntegerField(
        _("refresh tokens expire after (days)"),
        default=0,
        help_text=_("0: unknown or never. 7 for a Google app left in \"Testing\"."),
    )
    warn_days = models.PositiveIntegerField(
        _("warn days before expiry"), default=2,
        help_text=_("The account pages warn this many days before a known expiry."),
    )

    class Meta:
        verbose_name = _("OAuth2 provider")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def set_client_secret(self, raw: str):
        self.client_secret_encrypted = secrets.encrypt(raw) if raw else ""

    def get_client_secret(self) -> str:
        return secrets.decrypt(self.client_secret_encrypted)

    def apply_preset(self):
        """Fill the endpoints and scopes of a Google or Microsoft preset (empty fields only)."""
        if self.preset == self.Preset.GOOGLE:
            preset = {
                "authorization_endpoint": GOOGLE_AUTHORIZE,
                "token_endpoint": GOOGLE_TOKEN,
                "device_endpoint": GOOGLE_DEVICE,
                "revocation_endpoint": GOOGLE_REVOKE,
                "scopes": "https://mail.google.com/ openid email",
            }
        elif self.preset == self.Preset.MICROSOFT:
            base = MICROSOFT_BASE.format(tenant=self.tenant.strip() or "common")
            preset = {
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "device_endpoint": f"{base}/devicecode",
                "scopes": MICROSOFT_SCOPES,
            }
        else:
            return
        for field, value in preset.items():
            if not getattr(self, field):
                setattr(self, field, value)


class OAuthGrant(models.Model):
    """What a person allowed popadmin to do for one remote account, or for one IMAP APPEND
    delivery target (exactly one of the two)."""

    account = models.OneToOneField(
        "retrieval.RemoteAccount", on_delete=models.CASCADE, related_name="oauth_grant",
        null=True, blank=True,
                   verbose_name=_("account"),
    )
    target = models.OneToOneField(
        "delivery.DeliveryTarget", on_delete=models.CASCADE, related_name="oauth_grant",
        null=True, blank=True,
                   verbose_name=_("target"),
    )
    provider = models.ForeignKey(OAuthProvider, on_delete=models.PROTECT, related_name="grants",
                                 verbose_name=_("provider"))
    refresh_token_encrypted = models.TextField(blank=True, editable=False,
                                               verbose_name=_("refresh token encrypted"))
    access_token_encrypted = models.TextField(blank=True, editable=False,
                                              verbose_name=_("access token encrypted"))
    access_expires = models.DateTimeField(null=True, blank=True, editable=False,
                                          verbose_name=_("access expires"))
    scopes = models.CharField(max_length=1000, blank=True, editable=False, verbose_name=_("scopes"))
    connected_as = models.CharField(max_length=255, blank=True, editable=False,
                                    verbose_name=_("connected as"))
    connected_at = models.DateTimeField(null=True, blank=True, editable=False,
                                        verbose_name=_("connected at"))
    refresh_expires = models.DateTimeField(null=True, blank=True, editable=False,
                                           verbose_name=_("refresh expires"))
    # Set when the provider refused the refresh token: a person must reconnect.
    expired = models.BooleanField(default=False, editable=False, verbose_name=_("expired"))

    class Meta:
        verbose_name = _("OAuth2 grant")
        constraints = [
            models.CheckConstraint(
                name="oauthgrant_account_xor_target",
                condition=(
                    models.Q(account__isnull=False, target__isnull=True)
                    | models.Q(account__isnull=True, target__isnull=False)
                ),
            ),
        ]

    def __str__(self):
        return f"{self.provider} grant for {self.subject}"

    @property
    def subject(self):
        """The remote account or the delivery target this grant signs in for."""
        return self.account if self.account_id else self.target

    def set_tokens(self, refresh: str | None, access: str):
        if refresh:
            self.refresh_token_encrypted = secrets.encrypt(refresh)
        self.access_token_encrypted = secrets.encrypt(access) if access else ""

    def refresh_token(self) -> str:
        return secrets.decrypt(self.refresh_token_encrypted)

    def access_token(self) -> str:
        return secrets.decrypt(self.access_token_encrypted)
