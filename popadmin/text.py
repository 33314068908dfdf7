"""Text from outside (mail headers, server replies) made fit for the database.

PostgreSQL refuses NUL in text and in jsonb, and no driver can encode a lone
surrogate, which is what the compat32 header parser makes of every 8-bit byte.
One such value in an INSERT used to stop an account for good, so everything
derived from a message passes through storable() before it is saved.
"""

import re
import unicodedata

_FOREIGN_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
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
    # U+DC80..U+DCFF are bytes in disguise (surrogateescape, as the email parser
    # reads 8-bit headers): decode them as UTF-8. Other surrogates (e.g. from a
    # JSON "\ud800") stand for nothing.
    text = _FOREIGN_SURROGATE.sub("\ufffd", text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _printable(char: str) -> str:
    if char.isprintable() or char == " ":
        return char
    if char in _WHITESPACE or unicodedata.category(char) in ("Zl", "Zp", "Zs"):
        return " "
    if unicodedata.category(char) == "Cc":
        return "\ufffd"
    # Format characters (soft hyphen, bidi marks, …) and private use are storable.
    return char
