"""Text from outside (mail headers, server replies) made fit for the database.

PostgreSQL refuses NUL in text and in jsonb, and no driver can encode a lone
surrogate, which is what the compat32 header parser makes of every 8-bit byte.
One such value in an INSERT used to stop an account for good, so everything
derived from a message passes through storable() before it is saved.
"""

import unicodedata

_WHITESPACE = {"\t", "\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x1f", "\x85"}


def storable(value, limit: int | None = None) -> str:
    """`value` as valid Unicode without control characters, at most `limit` characters.

    8-bit bytes that form UTF-8 are read as such, the rest become U+FFFD;
    line breaks and tabs become spaces; other control characters (NUL, ESC, …)
    become U+FFFD, so a tampered value stays visibly different from a clean one.
    """
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    else:
        text = _reencode(str(value))
    if not text.isprintable():
        text = "".join(_printable(c) for c in text)
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text


def _reencode(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        # surrogateescape'd bytes, as the email parser and os functions make them
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # Surrogates from elsewhere (e.g. JSON "\ud800"): not bytes in disguise.
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def _printable(char: str) -> str:
    if char.isprintable() or char == " ":
        return char
    if char in _WHITESPACE or unicodedata.category(char) in ("Zl", "Zp", "Zs"):
        return " "
    if unicodedata.category(char) == "Cc":
        return "\ufffd"
    # Format characters (soft hyphen, bidi marks, …) and private use are storable.
    return char
