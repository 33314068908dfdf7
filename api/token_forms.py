import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

LIFETIMES = [("30", _("30 days")), ("90", _("90 days")), ("365", _("1 year")), ("", _("Never"))]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"),
                           help_text=_("What the token is for, e.g. the script or host using it."))
    access = forms.ChoiceField(
        label=_("Access"), initial="read", widget=forms.RadioSelect,
        choices=[("read", _("Read only: list and read")),
                 ("write", _("Read and write: also add, change, delete and Check now"))])
    lifetime = forms.ChoiceField(label=_("Expires after"), choices=LIFETIMES, initial="90",
                                 required=False)
    staff = forms.BooleanField(
        label=_("Whole installation"), required=False,
        help_text=_("Acts with your admin permissions on every mailbox and account, not "
                    "just your own."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not user.is_staff:
            del self.fields["staff"]

    def expires(self):
        days = self.cleaned_data.get("lifetime")
        return timezone.now() + dt.timedelta(days=int(days)) if days else None
