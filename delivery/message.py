"""What the delivery side needs to know about a spooled message."""

import hashlib
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import BinaryIO

HEADER_LIMIT = 1024 * 1024  # headers beyond this are ignored for identification


@dataclass(frozen=True)
class MessageInfo:
    key: str  # "mid:<sha256 of Message-ID>" or "sha:<sha256 of content>"
    message_id: str
    size: int
    headers: object  # email.message.Message with headers only


def read_headers(spool: BinaryIO) -> bytes:
    spool.seek(0)
    head = spool.read(HEADER_LIMIT)
    end = head.find(b"\n\n")
    return head if end == -1 else head[: end + 1]


def inspect(spool: BinaryIO) -> MessageInfo:
    raw = read_headers(spool)
    # compat32 never raises on malformed headers; hostile mail must not crash us.
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    message_id = " ".join(str(headers.get("Message-ID", "") or "").split())[:998]
    spool.seek(0, 2)
    size = spool.tell()
    if message_id:
        key = "mid:" + hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()
    else:
        key = "sha:" + content_hash(spool)
    return MessageInfo(key=key, message_id=message_id, size=size, headers=headers)


def content_hash(spool: BinaryIO) -> str:
    spool.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: spool.read(256 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()
