"""The admin Import page's two upload forms: a fetchmailrc, or getmail6 rc files."""

from django import forms
from django.utils.translation import gettext_lazy as _

# An rc or state file is a few kB; anything near this is not one.
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 50
# All the files of one upload together: the job is held on the server until
# it is confirmed (pending.py), so it is bounded as a whole too.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        cleaned = [super(MultipleFileField, self).clean(f, initial) for f in files]
        cleaned = [f for f in cleaned if f]
        if len(cleaned) > MAX_FILES:
            raise forms.ValidationError(f"at most {MAX_FILES} files at once")
        return cleaned


def read_upload(upload):
    """(name, text) of an uploaded file; undecodable bytes survive as the commands keep them."""
    if upload.size > MAX_FILE_BYTES:
        raise forms.ValidationError(
            f"{upload.name} is larger than {MAX_FILE_BYTES // 1024 // 1024} MB; not an rc file")
    return upload.name, upload.read().decode("utf-8", errors="surrogateescape")


def check_total(*uploads):
    """Refuse an upload whose files together exceed MAX_UPLOAD_BYTES."""
    if sum(u.size for u in uploads if u) > MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            f"the files together are larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB; "
            "import them in several parts")


class FetchmailForm(forms.Form):
    rcfile = forms.FileField(label=_("fetchmailrc"))
    state = forms.FileField(label=_(".fetchids"), required=False,
                            help_text=_("What fetchmail already took from POP3 servers; "
                                      "that mail is not taken again."))
    owner = forms.CharField(label=_("Owner mailbox"), required=False, max_length=254,
                            help_text=_("Address or login name, for entries that name no "
                                      "local user (fetchmail's “the user running it”)."))
    seen_from_server = forms.BooleanField(
        label=_("Read \\Seen flags of IMAP accounts with keep"), required=False, initial=True,
        help_text=_("fetchmail keeps no IMAP state: the messages flagged \\Seen on the server "
                  "are recorded as taken, so only unseen mail is fetched. They are never "
                  "deleted by popadmin: they stay on the server until removed there."))

    def clean(self):
        d = super().clean()
        if not self.errors:
            d["job"] = self._job(d)
        return d

    def _job(self, d):
        check_total(d["rcfile"], d["state"])
        return {
            "kind": "fetchmail", "rc": read_upload(d["rcfile"]),
            "state": read_upload(d["state"])[1] if d["state"] else None,
            "owner": d["owner"].strip() or None, "seen_from_server": d["seen_from_server"],
        }


class GetmailForm(forms.Form):
    rcfiles = MultipleFileField(label=_("getmail rc files"),
                                help_text=_("One account each; select several at once."))
    states = MultipleFileField(label=_("oldmail-* files"), required=False,
                               help_text=_("What getmail already took; matched by file name."))
    owner = forms.CharField(label=_("Owner mailbox"), max_length=254,
                            help_text=_("Address or login name the accounts deliver to."))

    def clean(self):
        d = super().clean()
        if not self.errors:
            d["job"] = self._job(d)
        return d

    def _job(self, d):
        check_total(*d["rcfiles"], *d["states"])
        return {
            "kind": "getmail", "files": [read_upload(f) for f in d["rcfiles"]],
            "states": [read_upload(f) for f in d["states"]], "owner": d["owner"].strip(),
        }
