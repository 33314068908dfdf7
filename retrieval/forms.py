from django import forms
from django.utils.translation import gettext_lazy as _

from popadmin.listfield import ListField
from popadmin.net.errors import ProtocolError
from popadmin.net.reach import PortRefused
from popadmin.secrets import SecretError, validate_credential
from retrieval import credential_reuse, imported_state, network_reach
from retrieval.models import RemoteAccount
from retrieval.protocols.pop3 import credentials_too_long


class RemoteAccountForm(forms.ModelForm):
    """The password is write-only: never rendered back, empty keeps the stored one.

    An OAuth2 account (auth_method xoauth2/oauthbearer) signs in with its grant,
    made on the connect page after saving: it needs no password.
    """

    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        validators=[validate_credential],
        help_text=_("Stored encrypted. Leave empty to keep the current password."),
    )

    folders = ListField(commas=False, label=_("IMAP folders"),
                        help_text=_("Folders to read; empty means INBOX."))
    keep_days = forms.IntegerField(min_value=1, required=False, label=_("Keep days"),
                                   help_text=_("Days a copy stays on the server."))

    class Meta:
        model = RemoteAccount
        fields = [
            "owner", "name", "enabled", "network_restricted", "protocol", "security", "host",
            "port", "verify_tls", "username", "auth_method", "folders", "mode", "target_folder",
            "keep_policy", "keep_days", "max_message_mb", "poll_minutes", "push",
            "delivery_target", "folder_map",
        ]

    # Set by clean(): the form points the account at another server than the one its
    # stored credential was entered for (retrieval/credential_reuse.py).
    server_changed = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if imported := imported_state.imported_count(self.instance):
            # Said before the policy changes, and again when it does (the save's message).
            self.fields["keep_policy"].help_text = imported_state.notice(imported)
        if self.is_bound and "auth_method" not in self.data:
            # A post that predates the sign-in method (a script, an old page) keeps the
            # current one, and does not count as changing it.
            self.fields["auth_method"].disabled = True

    def clean(self):
        data = super().clean()
        if not self.uses_password(data):
            self.errors.pop("password", None)  # a hidden field's leftovers do not count
        if "password" in self.errors:
            return data  # a rejected password is not a missing one
        self.server_changed = credential_reuse.server_changed(self.instance, data)
        if self.uses_password(data) and not data.get("password"):
            if not (self.instance.pk and self.instance.has_password):
                self.add_error("password", _("A password is required for a new account."))
            elif self.server_changed:
                self.add_error("password", str(credential_reuse.TYPE_IT_AGAIN))
        self._fields_that_apply(data)
        self._check_pop3_lengths(data)
        self._check_reach(data)
        return data

    @staticmethod
    def uses_password(data) -> bool:
        return data.get("auth_method", RemoteAccount.AuthMethod.PASSWORD) == (
            RemoteAccount.AuthMethod.PASSWORD
        )

    def _fields_that_apply(self, data):
        # The page hides fields that do not apply (static/popadmin/account_form.js);
        # a hidden field's value is ignored here, whatever the browser sent.
        if data.get("keep_policy") == RemoteAccount.Keep.KEEP_DAYS:
            if not data.get("keep_days") and "keep_days" not in self.errors:
                self.add_error("keep_days",
                               _("How many days should the copy stay on the server?"))
        else:
            data["keep_days"] = self.instance.keep_days or 7
        if data.get("security") == RemoteAccount.Security.NONE:
            data["verify_tls"] = self.instance.verify_tls
        if data.get("protocol") == RemoteAccount.Protocol.POP3:
            data["folders"] = list(self.instance.folders or [])
        if not self.uses_password(data):
            # A typed password is not kept: the grant signs in. A stored one stays,
            # for switching back to the password method.
            data["password"] = ""

    def _check_reach(self, data):
        if not data.get("host") or "port" in self.errors:
            return
        account = RemoteAccount(
            network_restricted=data.get("network_restricted", self.instance.network_restricted)
        )
        if not network_reach.is_restricted(account):
            return
        port = data.get("port") or RemoteAccount.DEFAULT_PORTS.get(
            (data.get("protocol"), data.get("security"))
        )
        if port is None:
            return
        try:
            network_reach.policy().check(data["host"], port, network_reach.FORM_DNS_SECONDS)
        except ProtocolError as exc:
            field = "port" if isinstance(exc, PortRefused) else "host"
            self.add_error(field, str(exc)[0].upper() + str(exc)[1:] + ".")

    def _check_pop3_lengths(self, data):
        # Credentials too long for USER/PASS still work by SASL PLAIN where
        # the server offers it; only what no method can send is refused here.
        if (data.get("protocol") != RemoteAccount.Protocol.POP3 or "username" not in data
                or not self.uses_password(data)):
            return
        password = data.get("password")
        if not password and self.instance.pk and self.instance.has_password:
            try:
                password = self.instance.get_password()
            except SecretError:
                return
        problem = credentials_too_long(data["username"], password or "")
        if problem:
            self.add_error("password", problem[0].upper() + problem[1:] + ".")

    def save(self, commit=True):
        if self.cleaned_data.get("password"):
            self.instance.set_password(self.cleaned_data["password"])
        return super().save(commit)
