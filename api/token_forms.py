import datetime as dt

from django import forms
from django.utils import timezone

LIFETIMES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name",
                           help_text="What the token is for, e.g. the script or host using it.")
    access = forms.ChoiceField(
        label="Access", initial="read", widget=forms.RadioSelect,
        choices=[("read", "Read only: list and read"),
                 ("write", "Read and write: also add, change, delete and Check now")])
    lifetime = forms.ChoiceField(label="Expires after", choices=LIFETIMES, initial="90",
                                 required=False)
    staff = forms.BooleanField(
        label="Whole installation", required=False,
        help_text="Acts with your admin permissions on every mailbox and account, not just "
                  "your own.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not user.is_staff:
            del self.fields["staff"]

    def expires(self):
        days = self.cleaned_data.get("lifetime")
        return timezone.now() + dt.timedelta(days=int(days)) if days else None
