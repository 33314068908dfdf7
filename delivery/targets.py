"""Where mail is delivered: Maildir (embedded default), LMTP or an SMTP relay.

One DeliveryTarget may be marked default; a mailbox may name its own. No
target at all means Maildir under MAIL_ROOT.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from popadmin import secrets
from popadmin.secrets import validate_credential


class DeliveryTarget(models.Model):
    class Kind(models.TextChoices):
        MAILDIR = "maildir", "Maildir under MAIL_ROOT"
        LMTP = "lmtp", "LMTP (RFC 2033) to a mail server"
        SMTP = "smtp", "SMTP relay (smarthost)"

    class Security(models.TextChoices):
        STARTTLS = "starttls", "STARTTLS"
        TLS = "tls", "TLS"
        NONE = "none", "None"

    class RecipientForm(models.TextChoices):
        ADDRESS = "address", "Full address (alice@example.com)"
        LOCALPART = "localpart", "Local part only (alice), e.g. Dovecot with bare user names"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MAILDIR)
    is_default = models.BooleanField(
        "default for all mailboxes", default=False,
        help_text="Mailboxes without a target of their own use this one.",
    )
    host = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: 24 LMTP, 587 SMTP.")
    socket_path = models.CharField(
        "UNIX socket (LMTP)", max_length=500, blank=True, help_text="Used instead of host/port."
    )
    security = models.CharField(
        max_length=10, choices=Security.choices, default=Security.STARTTLS,
        help_text="SMTP only; LMTP is spoken on a trusted local link.",
    )
    verify_tls = models.BooleanField("verify TLS certificate", default=True)
    username = models.CharField(max_length=255, blank=True, validators=[validate_credential])
    password_encrypted = models.TextField(blank=True, editable=False)
    recipient_form = models.CharField(
        max_length=10, choices=RecipientForm.choices, default=RecipientForm.ADDRESS
    )
    timeout_seconds = models.PositiveIntegerField(default=60)

    class Meta:
        app_label = "delivery"

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        if self.is_default:
            DeliveryTarget.objects.exclude(pk=self.pk).update(is_default=False)

    def clean(self):
        if self.kind == self.Kind.LMTP and not (self.host or self.socket_path):
            raise ValidationError("LMTP needs a host or a UNIX socket path.")
        if self.kind == self.Kind.SMTP and not self.host:
            raise ValidationError({"host": "An SMTP relay needs a host."})

    def set_password(self, raw: str):
        validate_credential(raw)
        self.password_encrypted = secrets.encrypt(raw) if raw else ""

    def recipient_for(self, mailbox) -> str:
        if self.recipient_form == self.RecipientForm.LOCALPART:
            return mailbox.localpart
        return mailbox.address

    def backend(self):
        from delivery.backends import LmtpBackend, LmtpSettings, SmtpBackend, SmtpSettings

        if self.kind == self.Kind.LMTP:
            return LmtpBackend(LmtpSettings(
                host=self.host, port=self.port or 24, socket_path=self.socket_path,
                timeout=float(self.timeout_seconds),
            ))
        if self.kind == self.Kind.SMTP:
            return SmtpBackend(SmtpSettings(
                host=self.host, port=self.port or 587, security=self.security,
                username=self.username, password=secrets.decrypt(self.password_encrypted),
                verify_tls=self.verify_tls, ca_file=settings.POPADMIN_CA_FILE,
                timeout=float(self.timeout_seconds),
            ))
        return None  # Maildir is handled in-process by delivery.maildir


def target_for(mailbox, default: "DeliveryTarget | None") -> "DeliveryTarget | None":
    """The mailbox's own target, else the default; None means Maildir."""
    if mailbox.delivery_target_id:
        return mailbox.delivery_target
    return default
