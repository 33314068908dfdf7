"""Each recipient's own copy of a catch-all message: no envelope header names anyone else.

A provider's catch-all box may hold one copy for several envelope
recipients, with a Delivered-To (X-Original-To, Envelope-To, Received
"for") per recipient. Handed on as it is, that copy would tell every
recipient who else got it, Bcc recipients included. So when recipients were
read from the envelope (Resolution.private), each copy drops the envelope
fields that name an address in an accepted domain which is not delivered to
that very mailbox, and Received lines lose a "for" clause naming one. Fields
naming only the recipient itself, or only outside addresses, stay.

Messages may be 100 MB: the header block is scanned once, line by line and
keeping at most FIELD_LIMIT bytes of a field, into byte ranges to cut or
replace; a copy is a file-like view that applies them while the rest streams
through in chunks. The spool is never rewritten.
"""

import re
from dataclasses import dataclass
from typing import BinaryIO

from delivery.addresses import MAX_FIELD_CHARS, addresses_in, header_text, received_for
from delivery.recipients import is_envelope_field

# The usual envelope fields are always kept private, whatever the settings read.
ENVELOPE_FIELDS = frozenset({"delivered-to", "x-original-to", "envelope-to", "x-envelope-to"})
FIELD_LIMIT = MAX_FIELD_CHARS  # a longer envelope field is no real trace: it is dropped
LINE = 64 * 1024
CHUNK = 256 * 1024
# What the email parser takes for a header line; anything else ends the header block.
_FIELD_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:")
_BARE_CR = re.compile(rb"\r(?!\n)")
# A "for" clause of a Received line, comments included (unlike recipients.received_for).
_FOR = re.compile(
    r"\s*\bfor\s+((?:<[^<>]*>|[^\s<>;,()]+)(?:\s*,\s*(?:<[^<>]*>|[^\s<>;,()]+))*)", re.IGNORECASE
)

Edit = tuple[int, int, bytes]  # cut bytes [start, end) of the spool, put these instead


@dataclass(frozen=True)
class Field:
    start: int
    end: int
    name: str  # lower case
    raw: bytes  # the field as stored, at most FIELD_LIMIT + 1 bytes of it

    @property
    def whole(self) -> bool:
        return self.end - self.start == len(self.raw)


def scan_fields(spool: BinaryIO, names: frozenset[str]) -> list[Field]:
    """The header fields called one of `names`, with their byte ranges in the spool.

    Lines end where the email parser ends them (LF, CRLF or a bare CR), so a
    field hidden behind a bare CR is seen here as the resolver saw it.
    """
    found: list[Field] = []
    pos, at_line_start = 0, True
    start, name, raw = 0, None, bytearray()
    for line in _lines(spool):
        if at_line_start and line[:1] not in (b" ", b"\t"):
            if name in names:
                found.append(Field(start, pos, name, bytes(raw)))
            if not _FIELD_LINE.match(line):
                return found  # a blank line or no header: the body starts
            name = line.split(b":", 1)[0].strip().lower().decode("ascii")
            start, raw = pos, bytearray()
        if name in names and len(raw) <= FIELD_LIMIT:
            raw += line[: FIELD_LIMIT + 1 - len(raw)]
        pos += len(line)
        at_line_start = line.endswith((b"\n", b"\r"))
    if name in names:
        found.append(Field(start, pos, name, bytes(raw)))
    return found


def _lines(spool: BinaryIO):
    spool.seek(0)
    while line := spool.readline(LINE):
        if line.endswith(b"\r"):
            after = spool.read(1)  # a CRLF cut by the read limit is still one line end
            if after == b"\n":
                line += after
            elif after:
                spool.seek(-1, 1)
        start = 0
        for cr in _BARE_CR.finditer(line):
            yield line[start : cr.end()]
            start = cr.end()
        if start < len(line):
            yield line[start:]


class Copy:
    """A read-only, rewind-only file over the spool with the edits applied."""

    def __init__(self, spool: BinaryIO, size: int, edits: tuple[Edit, ...]):
        self.edits = edits
        self.size = size + sum(len(new) - (end - start) for start, end, new in edits)
        self._spool = spool
        self.seek(0)

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):
            raise OSError("a message copy can only be read from the start")
        self._spool.seek(0)
        self._pos, self._next, self._pending = 0, 0, b""
        return 0

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        parts = []
        while n > 0:
            if self._pending:
                part, self._pending = self._pending[:n], self._pending[n:]
            else:
                edit = self.edits[self._next] if self._next < len(self.edits) else None
                if edit and self._pos == edit[0]:
                    self._pending, self._pos, self._next = edit[2], edit[1], self._next + 1
                    self._spool.seek(self._pos)
                    continue
                part = self._spool.read(n if edit is None else min(n, edit[0] - self._pos))
                if not part:
                    break
                self._pos += len(part)
            parts.append(part)
            n -= len(part)
        return b"".join(parts)


def private_copies(spool, size, mailboxes, directory, settings) -> dict[int, Copy]:
    """Each mailbox's own copy (by pk); copies with the same edits may share a transaction."""
    configured = {str(f).strip().lower() for f in settings.header_fields or [] if f}
    names = ENVELOPE_FIELDS | {"received"} | set(filter(is_envelope_field, configured))
    fields = scan_fields(spool, frozenset(names))
    copies = {}
    for mailbox in mailboxes:

        def other(address, mailbox=mailbox) -> bool:
            if not directory.accepts(address):
                return False
            found = directory.recipient(address, settings.reroute_unknown)
            return found is None or found.pk != mailbox.pk

        edits = tuple(
            (f.start, f.end, new) for f in fields if (new := _edited(f, other)) is not None
        )
        copies[mailbox.pk] = Copy(spool, size, edits)
    return copies


def _edited(field: Field, other) -> bytes | None:
    """The field's replacement in one copy (b"" drops it), or None to keep it."""
    if not field.whole:
        return b""
    text = field.raw.decode("utf-8", "surrogateescape")
    name, _, value = text.partition(":")
    if field.name != "received":
        return b"" if any(map(other, addresses_in(header_text(value)))) else None

    def clause(match):
        return "" if any(map(other, addresses_in(header_text(match.group(1))))) else match.group(0)

    new = _FOR.sub(clause, value)
    if any(map(other, received_for(header_text(new)))):
        return b""  # a clause the cut did not catch ("for (note) <x>"): the line goes
    return None if new == value else f"{name}:{new}".encode("utf-8", "surrogateescape")

