"""Server text made fit for an error message or a log line, secrets masked."""

import re

# Anything but printable ASCII; one regex pass (this runs on every server reply).
_UNPRINTABLE = re.compile(r"[^ -~]")


def printable(data: bytes | str, limit: int = 200) -> str:
    """Server text made safe for an error message or a log line."""
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    text = _UNPRINTABLE.sub("?", data[: limit + 1]).strip()
    return text[:limit] + "..." if len(text) > limit else text


# A secret shorter than this could be any common word or number inside the
# server's text ("a", "ok", "12"), so it is masked only where it stands as a
# token of its own; a longer one is masked wherever it appears.
SHORT_SECRET = 4


def redact(text: str, secret: str) -> str:
    """Server text with `secret` masked, for servers that echo what they were sent."""
    if not secret:
        return text
    for form in {secret, printable(secret.encode("utf-8"))}:
        if not form:
            continue
        if len(form) >= SHORT_SECRET:
            text = text.replace(form, "***")
        else:
            # Bounded by anything but a letter, digit or underscore: "PASS ab",
            # '"ab"', "ab:" are masked; "about" and "tab" are not.
            pattern = r"(?<!\w)" + re.escape(form) + r"(?!\w)"
            text = re.sub(pattern, "***", text)
    return text
