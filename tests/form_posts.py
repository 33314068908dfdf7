"""What a browser posts for a form the page shows: for tests that save it as a user would."""


def as_posted(form, **changes) -> dict:
    """What the browser posts for `form` as shown, with `changes`: a ticked box as "on",
    an unticked or disabled one left out, the password empty (kept)."""
    data = {"action": "save"}
    for field in form:
        value = changes.get(field.name, field.value())
        if field.field.disabled or value is False:
            continue
        if value is True:
            value = "on"
        data[field.name] = "" if value is None else value
    data["password"] = ""
    data["folders"] = ", ".join(form.instance.folders or [])
    return data
