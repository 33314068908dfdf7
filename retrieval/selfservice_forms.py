"""The forms a user fills in to add and edit their own remote accounts.

The account form reuses the admin's validation (write-only password, POP3
line lengths, the network-reach check) with fewer fields: no owner, no TLS
switch-off, no reach exemption. The account is always network-restricted.
"""

from django import forms

from retrieval.forms import RemoteAccountForm
from retrieval.models import RemoteAccount


class AddressForm(forms.Form):
    address = forms.EmailField(
        label="Email address of the account to collect from",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True,
                                       "placeholder": "you@example.com"}),
    )


class UserAccountForm(RemoteAccountForm):
    folders = forms.CharField(
        label="IMAP folders",
        required=False,
        help_text="Comma-separated, e.g. INBOX, Archive. Empty: INBOX.",
    )

    class Meta(RemoteAccountForm.Meta):
        fields = [
            "name", "protocol", "security", "host", "port", "username", "auth_method", "folders",
            "target_folder", "keep_policy", "keep_days", "poll_minutes", "enabled",
        ]
        labels = {"host": "Server", "name": "Label"}

    def __init__(self, *args, min_poll_minutes: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_poll_minutes = min_poll_minutes
        # Users never exempt their own accounts from the reach guard.
        self.instance.network_restricted = True
        self.instance.verify_tls = True
        if self.instance.pk is None:
            # Recorded so that an import about to rewrite it says so first.
            self.instance.created_by_user = True
        if not self.is_bound:
            self.initial["folders"] = ", ".join(self.instance.folders or [])
        # The password belongs with the username, not after the schedule.
        self.order_fields([*self.Meta.fields[:7], "password"])
        poll = self.fields["poll_minutes"]
        poll.help_text = (f"Empty: the default. At least {min_poll_minutes} minute"
                          f"{'' if min_poll_minutes == 1 else 's'} (your group's minimum).")
        poll.widget.attrs["min"] = min_poll_minutes
        self.fields["password"].help_text = (
            "Stored encrypted, never shown again." if not self.instance.pk
            else "Leave empty to keep the current password."
        )
        # Short labels: the full ones wrap over several lines on a phone.
        self.fields["security"].choices = [
            ("tls", "TLS (995 / 993)"), ("starttls", "STARTTLS (110 / 143)"),
            ("none", "None: plain text, unsafe"),
        ]
        self.fields["auth_method"].choices = [
            ("password", "Password"), ("xoauth2", "OAuth2 sign-in (Gmail, Microsoft)"),
            ("oauthbearer", "OAuth2 sign-in (OAUTHBEARER)"),
        ]

    def clean_folders(self):
        text = self.cleaned_data.get("folders") or ""
        return [name.strip() for name in text.split(",") if name.strip()]

    def clean_poll_minutes(self):
        minutes = self.cleaned_data.get("poll_minutes")
        if minutes is not None and minutes < self.min_poll_minutes:
            raise forms.ValidationError(
                f"Your group allows checks every {self.min_poll_minutes} minutes at most often."
            )
        return minutes

    def clean(self):
        data = super().clean()
        host, username = data.get("host"), data.get("username")
        if host and username:
            twin = RemoteAccount.objects.filter(
                owner=self.instance.owner, host__iexact=host.strip(), username=username
            ).exclude(pk=self.instance.pk)
            if twin.exists():
                self.add_error("username", "You already collect from this user on this server.")
        return data
