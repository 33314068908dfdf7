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
    """Server text with `secret` masked, for servers that echo what they were sent.

    Matched regardless of case, Unicode case folding included ("PA$$W0RD" for
    "pa$$w0rd", "STRASSE" for "straße"): servers upper-case what they quote.
    """
    if not secret:
        return text
    for form in {secret, printable(secret.encode("utf-8"))}:
        if form:
            text = _mask(text, form.casefold(), whole_token=len(form) < SHORT_SECRET)
    return text


def _mask(text: str, needle: str, whole_token: bool) -> str:
    folded, origin = _folded(text)
    out, last, at = [], 0, folded.find(needle)
    while at != -1:
        start, end = origin[at], origin[at + len(needle) - 1] + 1
        # Short secrets: bounded by anything but a letter, digit or underscore, so
        # "PASS ab", '"ab"', "ab:" are masked; "about" and "tab" are not.
        if not whole_token or not (_word(text, start - 1) or _word(text, end)):
            if start >= last:
                out += [text[last:start], "***"]
            last = max(last, end)  # an overlapping match widens the mask
        at = folded.find(needle, at + 1)
    return "".join(out) + text[last:] if out else text


def _folded(text: str) -> tuple[str, list[int]]:
    """`text` case-folded, and for each folded character the index of the one it came from
    (folding can lengthen: "ß" becomes "ss")."""
    if text.isascii():
        return text.lower(), range(len(text))
    parts, origin = [], []
    for index, char in enumerate(text):
        fold = char.casefold()
        parts.append(fold)
        origin.extend([index] * len(fold))
    return "".join(parts), origin


def _word(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")
