"""A JSON body given to the forms the pages use, so the API validates exactly as they do.

A form expects every field it shows; a script sends only what it sets. The form is
filled from the object as it is (or the defaults, for a new one), then the body's
fields are laid over it. Fields the form does not have are refused, not ignored: a
typo must not pass as "nothing to change".
"""

import json

from django import forms
from rest_framework.exceptions import ValidationError

SECRET_FIELDS = {"password"}


def fill(form_class, instance, body, **form_kwargs):
    """A bound `form_class` for `instance` with `body` laid over its current values."""
    if not isinstance(body, dict):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    blank = form_class(instance=instance, **form_kwargs)
    unknown = sorted(set(body) - set(blank.fields))
    if unknown:
        raise ValidationError({name: ["No such field here."] for name in unknown})
    data = {}
    for name, field in blank.fields.items():
        if field.disabled:
            # Fixed by policy (e.g. push where the group turns it off): asking for another
            # value is refused with the page's reason, not silently dropped.
            if name in body and body[name] != blank[name].value():
                raise ValidationError({name: [str(field.help_text or "Fixed here.")]})
            continue
        value = body[name] if name in body else (
            None if name in SECRET_FIELDS else blank[name].value())
        data[name] = _as_form_value(name, field, value)
    return form_class(data, instance=instance, **form_kwargs)


def _as_form_value(name, field, value):
    if isinstance(value, dict):
        return json.dumps(value)  # a mapping field reads JSON text (the folder mapping)
    if isinstance(value, list) and type(field) is forms.CharField:
        return ", ".join(str(item) for item in value)  # a comma-separated list as text
    if isinstance(value, list):
        # A list field reads text (ports as typed on the page); numbers arrive as numbers.
        items = [str(item) if isinstance(item, int) and not isinstance(item, bool) else item
                 for item in value]
        if not all(isinstance(item, str) for item in items):
            raise ValidationError({name: ["Give a list of text or numbers."]})
        return items
    if value is None:
        return ""
    return value


def errors(form) -> dict:
    """The form's messages per field, as the page would show them."""
    out = {}
    for name, problems in form.errors.get_json_data().items():
        key = "non_field_errors" if name == "__all__" else name
        out[key] = [problem["message"] for problem in problems]
    return out
