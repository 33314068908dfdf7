"""What the delivery side needs to know about a spooled message.

A message is identified by its key (the Message-ID, or the content when it
has none) and its content digest: a SHA-256 of the body and the originator
headers. Two messages are the same only when both match: a forger who queues
a message with someone else's Message-ID must not get the real one dropped.
Trace headers (Received, Delivered-To, X-Original-To, Return-Path, spam
scores, …) are left out of the digest, so the copies a provider's catch-all
box keeps per recipient still count as one message.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from popadmin.text import storable

HEADER_LIMIT = 1024 * 1024  # headers beyond this are ignored for identification
MESSAGE_ID_LENGTH = 998  # Delivery.message_id; RFC 5322's line limit
CHUNK = 256 * 1024
DISPLAY_LENGTH = 300  # Delivery.sender / Delivery.subject
_FAR_FUTURE = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)

# Written by the author, identical in every copy of one message. A whitelist
# rather than a list of trace headers: providers add per-copy headers of
# their own (X-Spam-Score, X-Envelope-To, …) that must not tell copies apart.
ORIGINATOR_HEADERS = (
    "from", "sender", "date", "subject", "to", "cc", "message-id",
    "reply-to", "in-reply-to", "references",
)


@dataclass(frozen=True)
class MessageInfo:
    key: str  # "mid:<sha256 of Message-ID>" or "sha:<content digest>"
    message_id: str  # cleaned for storage (popadmin.text.storable)
    size: int
    headers: object  # email.message.Message with headers only
    digest: str = ""  # sha256 of body + originator headers (see module doc)
    # What people search deliveries by ("where did the mail from X go?"):
    # decoded, cleaned for storage, and never trusted for anything else.
    sender: str = ""
    subject: str = ""
    date: dt.datetime | None = None


def split_headers(spool: BinaryIO) -> tuple[bytes, int]:
    """The header block (up to HEADER_LIMIT bytes) and the offset where the body starts."""
    spool.seek(0)
    head = bytearray()
    while len(head) < HEADER_LIMIT:
        line = spool.readline(HEADER_LIMIT - len(head))
        if not line:
            break
        if line in (b"\n", b"\r\n"):
            return bytes(head), spool.tell()
        head += line
    return bytes(head), spool.tell()


def inspect(spool: BinaryIO) -> MessageInfo:
    raw, body_start = split_headers(spool)
    # compat32 never raises on malformed headers; hostile mail must not crash us.
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    index = _index(headers)
    ids = index.get("message-id", [])
    raw_id = " ".join(ids[0].split()) if ids else ""
    digest = content_digest(spool, index, body_start)
    spool.seek(0, 2)
    size = spool.tell()
    if raw_id:
        # The raw value, so two IDs that clean to the same text stay apart.
        key = "mid:" + hashlib.sha256(_bytes(raw_id)).hexdigest()
    else:
        key = "sha:" + digest
    return MessageInfo(
        key=key, message_id=storable(raw_id, MESSAGE_ID_LENGTH), size=size,
        headers=headers, digest=digest, sender=_display(index, "from"),
        subject=_display(index, "subject"), date=_date(index),
    )


def _display(index, name: str) -> str:
    """The first such header, encoded words decoded; never raises on hostile input."""
    values = index.get(name, [])
    if not values:
        return ""
    raw = " ".join(values[0].split())
    if "=?" not in raw:
        return storable(raw, DISPLAY_LENGTH)  # no encoded word: decode_header would return it as is
    try:
        text = str(make_header(decode_header(raw)))
    except (ValueError, LookupError, UnicodeError, AssertionError, HeaderParseError):
        text = raw
    return storable(text, DISPLAY_LENGTH)


def _date(index) -> dt.datetime | None:
    values = index.get("date", [])
    if not values:
        return None
    try:
        when = parsedate_to_datetime(" ".join(values[0].split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": the sender's zone is unknown; read it as UTC
        when = when.replace(tzinfo=dt.UTC)
    return when if dt.datetime(1970, 1, 2, tzinfo=dt.UTC) < when < _FAR_FUTURE else None


def content_digest(spool: BinaryIO, index: dict[str, list[str]], body_start: int) -> str:
    """SHA-256 of the originator headers and the body, read in chunks.

    Header values are unfolded and their whitespace collapsed, and the body's
    CRLF line ends read as LF, so a copy fetched over another protocol (or
    rewrapped by a server) still matches.
    """
    digest = hashlib.sha256()
    for name in ORIGINATOR_HEADERS:
        for value in index.get(name, []):
            digest.update(name.encode() + b":" + _bytes(" ".join(value.split())) + b"\n")
    digest.update(b"\n")
    spool.seek(body_start)
    carry = b""
    for chunk in iter(lambda: spool.read(CHUNK), b""):
        chunk = carry + chunk
        # A CR at the end of a chunk may be half of a CRLF: keep it for the next.
        carry = b"\r" if chunk.endswith(b"\r") else b""
        digest.update(chunk[: len(chunk) - len(carry)].replace(b"\r\n", b"\n"))
    digest.update(carry)
    return digest.hexdigest()


def _index(headers) -> dict[str, list[str]]:
    """Every header's values by lower-cased name, in order, read once.
    raw_items(): the text as read, never a lossy Header object."""
    index: dict[str, list[str]] = {}
    for key, value in headers.raw_items():
        index.setdefault(key.lower(), []).append(str(value))
    return index


def _bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
