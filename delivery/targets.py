"""Where mail is delivered: Maildir (embedded default), LMTP, an SMTP relay, ...

One DeliveryTarget may be marked default; a mailbox may name its own. No
target at all means Maildir under MAIL_ROOT. The kinds are the backends
registered in delivery/backends (BACKENDS); a target finds its backend there.
"""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from delivery.backends import BACKENDS, Backend, Recipient, Site
from popadmin import secrets
from popadmin.net.errors import ProtocolError
from popadmin.secrets import validate_credential

MB = 1024 * 1024

# Set by the retrieval app at startup (retrieval/apps.py): (target) -> a fresh OAuth2
# access token. The grants and the provider flows live in retrieval, which delivery
# must not import; a backend asks through this hook. It raises
# popadmin.net.errors.ProtocolError (e.g. "sign-in expired: reconnect") when there is none.
token_source = None
# Likewise (target) -> a new access token after the server refused the cached one: the
# cached token is dropped and refreshed; a refused refresh expires the grant (and raises).
token_renewer = None


class DeliveryTarget(models.Model):
    # MAILDIR, LMTP, SMTP, ...: one per registered backend.
    Kind = models.TextChoices(
        "Kind", [(kind.upper(), (kind, backend.label)) for kind, backend in BACKENDS.items()]
    )

    class Security(models.TextChoices):
        STARTTLS = "starttls", _("STARTTLS")
        TLS = "tls", _("TLS")
        NONE = "none", _("None")

    class AuthMethod(models.TextChoices):
        PASSWORD = "password", _("Password")
        XOAUTH2 = "xoauth2", _("OAuth2 (XOAUTH2: Gmail, Microsoft 365)")
        OAUTHBEARER = "oauthbearer", _("OAuth2 (OAUTHBEARER, RFC 7628)")

    class RecipientForm(models.TextChoices):
        ADDRESS = "address", _("Full address (alice@example.com)")
        LOCALPART = "localpart", _("Local part only (alice), e.g. Dovecot with bare user names")

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MAILDIR,
                            verbose_name=_("kind"))
    is_default = models.BooleanField(
        _("default for all mailboxes"), default=False,
        help_text=_("Mailboxes without a target of their own use this one."),
    )
    host = models.CharField(max_length=253, blank=True, verbose_name=_("host"))
    port = models.PositiveIntegerField(
        null=True, blank=True,
        help_text=_("Empty: 24 LMTP, 587 SMTP, 993 IMAP (143 with STARTTLS or none)."),
        verbose_name=_("port"),
    )
    socket_path = models.CharField(
        _("UNIX socket (LMTP)"), max_length=500, blank=True,
        help_text=_("Used instead of host/port."),
    )
    security = models.CharField(
        max_length=10, choices=Security.choices, default=Security.STARTTLS,
        help_text=_("SMTP and IMAP; LMTP is spoken on a trusted local link."),
        verbose_name=_("security"),
    )
    verify_tls = models.BooleanField(_("verify TLS certificate"), default=True)
    username = models.CharField(max_length=255, blank=True, validators=[validate_credential],
                                verbose_name=_("username"))
    password_encrypted = models.TextField(blank=True, editable=False,
                                          verbose_name=_("password encrypted"))
    auth_method = models.CharField(
        _("sign-in"), max_length=12, choices=AuthMethod.choices, default=AuthMethod.PASSWORD,
        help_text=_("IMAP APPEND only. OAuth2: save, then Connect to sign in at the provider."),
    )
    recipient_form = models.CharField(
        max_length=10, choices=RecipientForm.choices, default=RecipientForm.ADDRESS,
        verbose_name=_("recipient form")
    )
    timeout_seconds = models.PositiveIntegerField(default=60, verbose_name=_("timeout seconds"))
    # Mail delivered elsewhere than the built-in Maildir is read there; the
    # mail page links each such message to this address (docs/users/mail-page.md).
    webmail_url = models.URLField(
        _("webmail address"), max_length=500, blank=True, db_default="",
        help_text=_("Where users read the mail delivered here, e.g. https://webmail.example.com/. "
        "The mail page links these messages to it."),
    )

    class Meta:
        app_label = "delivery"
        verbose_name = _("delivery target")
        verbose_name_plural = _("delivery targets")

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        if self.is_default:
            DeliveryTarget.objects.exclude(pk=self.pk).update(is_default=False)

    def clean(self):
        backend = BACKENDS.get(self.kind)
        problems = backend.target_problems(self) if backend else {}
        if self.auth_method != self.AuthMethod.PASSWORD and self.kind != "imap":
            problems["auth_method"] = gettext("OAuth2 sign-in is for IMAP APPEND targets only.")
        if problems:
            raise ValidationError(problems)

    def set_password(self, raw: str):
        validate_credential(raw)
        self.password_encrypted = secrets.encrypt(raw) if raw else ""

    def decrypted_password(self) -> str:
        return secrets.decrypt(self.password_encrypted)

    def bearer(self) -> str:
        """A fresh OAuth2 access token for this target's grant (see token_source)."""
        if token_source is None:
            raise ProtocolError("OAuth2 sign-in is not available in this process")
        return token_source(self)

    def renewed_bearer(self) -> str:
        """A new OAuth2 access token, after the server refused the cached one (token_renewer)."""
        if token_renewer is None:
            raise ProtocolError("OAuth2 sign-in is not available in this process")
        return token_renewer(self)

    def backend(self) -> Backend:
        return backend_for(self)


def site(ca_file: str | None = None) -> Site:
    """The installation settings backends read, as they are now. `ca_file`: the extra
    trusted CAs the caller holds (the global settings' "Extra trusted CA file", which
    also applies to the remote accounts); None: the environment's POPADMIN_CA_FILE."""
    return Site(
        mail_root=Path(settings.MAIL_ROOT), maildir_mode=settings.POPADMIN_MAILDIR_MODE,
        maildir_sync=settings.POPADMIN_MAILDIR_SYNC,
        ca_file=ca_file if ca_file is not None else settings.POPADMIN_CA_FILE,
    )


def backend_for(target: "DeliveryTarget | None", ca_file: str | None = None) -> Backend:
    """The backend a target's kind is registered with; no target means Maildir."""
    kind = target.kind if target is not None else DeliveryTarget.Kind.MAILDIR
    return BACKENDS[kind].from_target(target, site(ca_file))


def recipient(mailbox) -> Recipient:
    """A local mailbox as every backend takes it."""
    return Recipient(mailbox.address, quota=(mailbox.quota_mb or 0) * MB)


def target_for(
    mailbox, default: "DeliveryTarget | None", account_target: "DeliveryTarget | None" = None
) -> "DeliveryTarget | None":
    """The remote account's target, else the mailbox's own, else the default; None: Maildir."""
    if account_target is not None:
        return account_target
    if mailbox.delivery_target_id:
        return mailbox.delivery_target
    return default
