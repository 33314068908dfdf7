"""A list of short strings edited as text: one per line (commas work too).

Replaces the JSON text box ("[]") the admin shows for a JSONField holding a
list. A JSON array typed in is still accepted, so scripts and old bookmarks
that post JSON keep working.
"""

import json
import re

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

_LINES = re.compile(r"\n+")
_LINES_OR_COMMAS = re.compile(r"[\n,;]+")


class ListField(forms.Field):
    widget = forms.Textarea(attrs={"rows": 3, "class": "popadmin-list"})

    def __init__(self, *, lower=False, commas=True, **kwargs):
        # Folder names may hold a comma: those lists split on lines only.
        self.lower, self.split = lower, _LINES_OR_COMMAS if commas else _LINES
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        hint = _("One per line.") if not commas else _("One per line (or separated by commas).")
        # Lazy: form classes are built at import, the words are chosen per request.
        self.help_text = format_lazy("{} {}", self.help_text, hint) if self.help_text else hint

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value or ""

    def to_python(self, value):
        if value in (None, ""):
            return []
        if isinstance(value, list):
            items = value
        elif value.strip().startswith("["):
            try:
                items = json.loads(value)
            except ValueError:
                raise forms.ValidationError(gettext("Write one entry per line."),
                                            code="invalid_list")
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise forms.ValidationError(gettext("Write one entry per line."),
                                            code="invalid_list")
        else:
            items = self.split.split(value)
        cleaned = []
        for item in items:
            item = item.strip()
            if self.lower:
                item = item.lower()
            if item and item not in cleaned:
                cleaned.append(item)
        return cleaned

    def has_changed(self, initial, data):
        return self.to_python(initial or []) != self.to_python(data)
