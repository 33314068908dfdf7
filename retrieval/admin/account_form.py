"""The admin's remote account form: folder mapping as rows, and Save tests first.

Save tests the connection when it changed (or the account is new) before
anything is written: a failing test keeps the form open with the reason and a
"Save anyway" box, as the self-service form does. The test itself is the
admin's (retrieval/admin/account_test.py), handed in as `tester`.
"""

from __future__ import annotations

import json

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retrieval.forms import RemoteAccountForm
from retrieval.oauth.tokens import needs_sign_in

# A save that changes any of these tests the connection again.
CONNECTION_FIELDS = {"protocol", "security", "host", "port", "verify_tls", "username",
                     "auth_method", "password", "folders", "network_restricted"}


TABLE = ('<table class="popadmin-folder-map" id="{}"><thead><tr><th scope="col">{}'
         '</th><th scope="col"></th><th scope="col">{}</th></tr></thead>'
         '<tbody>{}</tbody></table>')
ROW = ('<tr><td><input type="text" name="{}_from" value="{}" aria-label="{} {}" '
       'placeholder="{}"></td><td aria-hidden="true">→</td><td><input type="text" '
       'name="{}_to" value="{}" aria-label="{} {}" placeholder="{}">'
       '</td></tr>')


class FolderMapWidget(forms.Widget):
    """One row per remote folder → destination folder, and empty rows to add more."""

    blank_rows = 2

    def render(self, name, value, attrs=None, renderer=None):
        rows = [*_pairs(value), *[("", "")] * self.blank_rows]
        remote, destination = gettext("Remote folder"), gettext("Destination folder")
        spam, junk = gettext("e.g. Spam"), gettext("e.g. Junk")
        body = format_html_join("", ROW, (
            (name, source, remote, n, spam, name, target, destination, n, junk)
            for n, (source, target) in enumerate(rows, 1)))
        return format_html(TABLE, (attrs or {}).get("id", ""), remote, destination, body)

    def value_from_datadict(self, data, files, name):
        if f"{name}_from" not in data and name in data:
            return data[name]  # a script posting the mapping as JSON text
        getlist = getattr(data, "getlist", lambda key: [data.get(key, "")])
        return list(zip(getlist(f"{name}_from"), getlist(f"{name}_to"), strict=False))

    def value_omitted_from_data(self, data, files, name):
        return f"{name}_from" not in data and name not in data


def _pairs(value) -> list[tuple[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except ValueError:
            return []
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [(str(a), str(b)) for a, b in value]
    return []


class FolderMapField(forms.Field):
    widget = FolderMapWidget

    def to_python(self, value) -> dict:
        if isinstance(value, str):
            try:
                value = json.loads(value or "{}")
            except ValueError as exc:
                raise forms.ValidationError(
                    gettext("The folder mapping is not valid JSON.")) from exc
            if not isinstance(value, dict):
                raise forms.ValidationError(
                    gettext("The folder mapping must name pairs of folders."))
            value = list(value.items())
        mapping = {}
        for source, target in value or []:
            source, target = str(source).strip(), str(target).strip()
            if not source and not target:
                continue
            if not source or not target:
                raise forms.ValidationError(
                    gettext("Each row needs both a remote folder and a destination folder."))
            if source in mapping:
                raise forms.ValidationError(
                    gettext("The remote folder %(folder)s is mapped twice.") % {"folder": source})
            mapping[source] = target
        return mapping

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != (initial or {})
        except forms.ValidationError:
            return True


class AdminAccountForm(RemoteAccountForm):
    folder_map = FolderMapField(
        label=_("Folder mapping"), required=False,
        help_text=_("Remote folder → destination folder, e.g. Spam → Junk. Folders not listed "
                  "go to the destination folder above. Missing folders are created. Empty a "
                  "row to remove it."))

    # Set by the admin for a save: account -> test words (account_test.words); None
    # means no test (Test connection builds the form to test, not to save).
    tester = None
    # After validation: the test's words, or None when nothing was tested.
    test_outcome = None

    @property
    def saved_anyway(self) -> bool:
        # A box the page shows beside the buttons after a failed test, not a model field.
        return bool(self.data.get("save_anyway"))

    @property
    def offer_save_anyway(self) -> bool:
        return bool(self.test_outcome and not self.test_outcome["ok"]
                    and not self.test_outcome["limited"])

    def wants_test(self) -> bool:
        account = self.instance
        if self.tester is None or not account.enabled or needs_sign_in(account):
            return False
        if self.server_changed and not self.uses_password(self.cleaned_data):
            return False  # the grant is not sent to a new server, not even to test it
        return account.pk is None or bool(CONNECTION_FIELDS & set(self.changed_data))

    def _post_clean(self):
        super()._post_clean()
        if self.errors or self.saved_anyway or not self.wants_test():
            return
        if self.cleaned_data.get("password"):
            self.instance.set_password(self.cleaned_data["password"])
        self.test_outcome = outcome = self.tester(self.instance)
        if not outcome["ok"] and not outcome["limited"]:
            self.add_error(None, gettext("Not saved: Test connection failed. %(text)s") % {
                "text": outcome["text"]})
