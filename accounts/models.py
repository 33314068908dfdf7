from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, validate_email
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.addresses import address_problem


def validate_mailbox_address(value):
    """A valid email address that is also safe as a Maildir path (accounts/addresses.py)."""
    validate_email(value)
    problem = address_problem(value)
    if problem:
        # Not code "invalid": a field would swap in its generic message for that code.
        raise ValidationError(
            gettext("Not usable as a local mailbox address: %(problem)s.") % {
                "problem": problem}, code="unsafe_address"
        )


def validate_alias_list(value):
    if not isinstance(value, list):
        raise ValidationError(gettext("Aliases must be a list of addresses."))
    for alias in value:
        if not isinstance(alias, str):
            raise ValidationError(gettext("Aliases must be a list of addresses."))
        try:
            validate_mailbox_address(alias)
        except ValidationError as refused:
            # Named, and not code "invalid", which the JSON field reads as "not JSON".
            raise ValidationError(
                gettext("Alias %(alias)s: %(problem)s") % {
                    "alias": repr(alias), "problem": " ".join(refused.messages)},
                code="invalid_alias"
            )


class Mailbox(models.Model):
    """A local mailbox that fetched mail is delivered into."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="mailbox",
        help_text=_("The login that owns this mailbox and sees it on the mail page."),
        verbose_name=_("user"),
    )
    address = models.EmailField(unique=True, validators=[validate_mailbox_address],
                                verbose_name=_("address"))
    aliases = models.JSONField(default=list, blank=True, validators=[validate_alias_list],
                               verbose_name=_("aliases"))
    quota_mb = models.PositiveIntegerField(default=0, help_text=_("0 means no quota."),
                                           verbose_name=_("quota (MB)"))
    is_postmaster = models.BooleanField(
        _("postmaster"),
        default=False,
        help_text=_("Receives catch-all mail for unknown recipients when re-routing is on."),
    )
    delivery_target = models.ForeignKey(
        "delivery.DeliveryTarget",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mailboxes",
        help_text=_("Empty: the default delivery target (Maildir if none is set)."),
        verbose_name=_("delivery target"),
    )
    language = models.CharField(
        max_length=10,
        blank=True,
        default="",
        # No choices here: a language added to settings.LANGUAGES needs no migration.
        # The forms offer settings.LANGUAGES (accounts/language.py).
        help_text=_("The language of the owner's pages and e-mails, e.g. \"de\". "
        "Empty: the browser's."),
        verbose_name=_("language"),
    )
    created = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))

    class Meta:
        ordering = ["address"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

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

    @classmethod
    def for_address(cls, address: str) -> "Mailbox | None":
        """The mailbox whose address or one of whose aliases is `address` (any case)."""
        address = (address or "").strip().lower()
        if not address:
            return None
        found = cls.objects.filter(address=address).first()
        if found:
            return found
        # JSON containment is not portable (SQLite lacks it): narrow with a
        # text match on the stored JSON, then compare exactly. Non-ASCII is
        # stored \u-escaped, so such an address is compared against all rows.
        candidates = cls.objects.all()
        if address.isascii():
            candidates = candidates.filter(aliases__icontains=address)
        return next((m for m in candidates if address in m.aliases), None)


class GroupPolicy(models.Model):
    """What the members of a group may do (Ocean's group options): triggers and self-service.

    A user gets a permission when any of their groups grants it; superusers get all.
    """

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="policy")
    allow_manual_check = models.BooleanField(
        _("manual “Check now”"),
        default=False,
        help_text=_("Members see a Check now button for their remote accounts on the mail page."),
    )
    allow_web_login_trigger = models.BooleanField(
        _("check on web login"),
        default=False,
        help_text=_("Logging in to the web console checks the member's remote accounts."),
    )
    allow_pop3_login_trigger = models.BooleanField(
        _("check on POP3 login"),
        default=False,
        help_text=_("A POP3 login reported by the local mail server checks the member's accounts."),
    )
    allow_imap_login_trigger = models.BooleanField(
        _("check on IMAP login"),
        default=False,
        help_text=_("An IMAP login reported by the local mail server checks the member's "
                    "accounts."),
    )
    may_manage_own_accounts = models.BooleanField(
        _("may add and edit own remote accounts"),
        default=False,
        help_text=_("Members add, edit, disable and delete their own remote accounts on the "
        "mail page. Their accounts reach public servers only (restricted network reach)."),
    )
    allow_push = models.BooleanField(
        _("push for IMAP accounts"),
        default=True,
        help_text=_("Members' IMAP accounts are watched (IDLE) and fetched within seconds of "
        "new mail. Off in any of a member's groups: their accounts are polled only."),
    )
    min_poll_minutes = models.PositiveIntegerField(
        _("minimum poll frequency (minutes)"),
        default=5,
        validators=[MinValueValidator(1)],
        help_text=_("Members cannot set their own accounts to be checked more often than this."),
    )

    class Meta:
        verbose_name = _("group policy")
        verbose_name_plural = _("group policy")

    def __str__(self):
        return f"Policy of {self.group}"
