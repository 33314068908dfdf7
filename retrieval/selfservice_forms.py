"""The forms a user fills in to add and edit their own remote accounts.

The account form reuses the admin's validation (write-only password, POP3
line lengths, the network-reach check) with fewer fields: no owner, no TLS
switch-off, no reach exemption. An account a user adds is network-restricted
and checks certificates; editing one an administrator set up keeps what the
administrator chose there (the page shows it read-only, `admin_choices`).

Push follows the group: where a group of the user turns it off, the box is shown
off and cannot be ticked, and saving keeps the account's own choice, which
applies again if the group allows push later.
"""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import policy
from retrieval import credential_reuse
from retrieval.forms import RemoteAccountForm
from retrieval.models import RemoteAccount


class AddressForm(forms.Form):
    address = forms.EmailField(
        label=_("Email address of the account to collect from"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True,
                                       "placeholder": "you@example.com"}),
    )


def group_limits(user) -> dict:
    """What the user's groups set for the form (UserAccountForm's keyword arguments)."""
    return {"min_poll_minutes": policy.min_poll_minutes(user),
            "push_allowed": policy.push_allowed(user)}


class UserAccountForm(RemoteAccountForm):
    folders = forms.CharField(
        label=_("IMAP folders"),
        required=False,
        help_text=_("Comma-separated, e.g. INBOX, Archive. Empty: INBOX."),
    )

    class Meta(RemoteAccountForm.Meta):
        fields = [
            "name", "protocol", "security", "host", "port", "username", "auth_method", "folders",
            "target_folder", "keep_policy", "keep_days", "poll_minutes", "push", "enabled",
        ]
        labels = {"host": _("Server"), "name": _("Label")}

    def __init__(self, *args, min_poll_minutes: int = 1, push_allowed: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_poll_minutes = min_poll_minutes
        self.push_allowed = push_allowed
        if self.instance.pk is None:
            # Users never exempt their own accounts from the reach guard. An existing
            # account keeps what an administrator chose: editing changes only what the
            # user touched (admin_choices says so on the page).
            self.instance.network_restricted = True
            self.instance.verify_tls = True
            # Recorded so that an import about to rewrite it says so first.
            self.instance.created_by_user = True
        if not self.is_bound:
            self.initial["folders"] = ", ".join(self.instance.folders or [])
        # The password belongs with the username, not after the schedule.
        self.order_fields([*self.Meta.fields[:7], "password"])
        poll = self.fields["poll_minutes"]
        poll.help_text = ngettext(
            "Empty: the default. At least %(count)s minute (your group's minimum).",
            "Empty: the default. At least %(count)s minutes (your group's minimum).",
            min_poll_minutes) % {"count": min_poll_minutes}
        poll.widget.attrs["min"] = min_poll_minutes
        self.fields["password"].help_text = (
            _("Stored encrypted, never shown again.") if not self.instance.pk
            else _("Leave empty to keep the current password.")
        )
        self._push_field()
        # Short labels: the full ones wrap over several lines on a phone.
        self.fields["security"].choices = [
            ("tls", _("TLS (995 / 993)")), ("starttls", _("STARTTLS (110 / 143)")),
            ("none", _("None: plain text, unsafe")),
        ]
        self.fields["auth_method"].choices = [
            ("password", _("Password")), ("xoauth2", _("OAuth2 sign-in (Gmail, Microsoft)")),
            ("oauthbearer", _("OAuth2 sign-in (OAUTHBEARER)")),
        ]

    PUSH_HELP = _("IMAP: new mail is fetched within seconds of reaching the server, instead of "
                  "at the next scheduled check. Off: the account is checked on its schedule "
                  "only.")
    PUSH_OFF_FOR_GROUP = _("Your group has push turned off: new mail arrives at the next "
                           "scheduled check. Only an administrator can change this.")

    def _push_field(self):
        push = self.fields["push"]
        push.label = _("Push: fetch new mail within seconds")
        push.help_text = self.PUSH_HELP
        if not self.push_allowed:
            # Shown as it is in effect (off); the account's own choice is kept (clean_push).
            push.disabled = True
            push.help_text = self.PUSH_OFF_FOR_GROUP
            self.initial["push"] = False

    def clean_push(self):
        if not self.push_allowed:
            return self.instance.push
        return self.cleaned_data.get("push")

    def admin_choices(self) -> list[str]:
        """Settings of this account that only an administrator can change, in words:
        shown read-only on the form, and never changed by saving it."""
        account = self.instance
        if account.pk is None:
            return []
        chosen = []
        if account.tls_unverified:
            chosen.append(_("Certificate checking is off: the server's TLS certificate is not "
                            "verified."))
        if not account.network_restricted:
            chosen.append(_("Network reach is not restricted: this account may reach internal "
                            "servers."))
        if account.mode == RemoteAccount.Mode.CATCHALL:
            chosen.append(_("Catch-all: mail is distributed by its recipient headers."))
        if account.delivery_target_id:
            chosen.append(_("Mail is delivered to %(target)s.") % {
                "target": account.delivery_target})
        if account.folder_map:
            pairs = ", ".join(f"{k} → {v}" for k, v in account.folder_map.items())
            chosen.append(_("Folder mapping: %(pairs)s.") % {"pairs": pairs})
        if account.max_message_mb:
            chosen.append(_("Messages over %(size)s MB stay on the server.") % {
                "size": account.max_message_mb})
        return chosen

    ADMIN_CHOICES_NOTE = _("Only an administrator can change these. They apply to this "
                           "server: pointing the account at another server checks certificates "
                           "and restricts its reach again.")

    def clean_folders(self):
        text = self.cleaned_data.get("folders") or ""
        return [name.strip() for name in text.split(",") if name.strip()]

    def clean_poll_minutes(self):
        minutes = self.cleaned_data.get("poll_minutes")
        if minutes is not None and minutes < self.min_poll_minutes:
            raise forms.ValidationError(
                _("Your group allows checks every %(count)s minutes at most often.")
                % {"count": self.min_poll_minutes}
            )
        return minutes

    # Set by clean(): the user pointed an account an administrator exempted (certificate
    # checks off, unrestricted reach) at another server; the exemptions stay behind.
    exemptions_dropped = False

    def clean(self):
        account = self.instance
        if account.pk and (account.tls_unverified or not account.network_restricted):
            fields = ("protocol", "security", "host", "port")
            edited = RemoteAccount(verify_tls=account.verify_tls,
                                   **{f: self.cleaned_data.get(f, getattr(account, f))
                                      for f in fields})
            if credential_reuse.server_of(edited) != credential_reuse.server_of(account):
                # An administrator's exemption was chosen for that server, not any other.
                account.network_restricted = True
                account.verify_tls = True
                self.exemptions_dropped = True
        data = super().clean()
        host, username = data.get("host"), data.get("username")
        if host and username:
            twin = RemoteAccount.objects.filter(
                owner=self.instance.owner, host__iexact=host.strip(), username=username
            ).exclude(pk=self.instance.pk)
            if twin.exists():
                self.add_error("username",
                               _("You already collect from this user on this server."))
        return data
