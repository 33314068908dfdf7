"""The IMAP wire level: responses (RFC 3501 §7, §9), commands, arguments.

Kept apart from the session logic (imap.py) so the grammar can be read,
and tested, on its own. Responses are parsed straight off the LineStream:
a literal `{n}` inside a response is read at the point where it occurs, so
the parse state is simply the call stack and nothing is re-scanned.
Literals are held in memory only up to the line limit; the one literal
that may be big (a message body) goes to a sink chosen by the caller.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from popadmin.net.errors import LimitExceeded, MessageTooLarge, ProtocolError
from popadmin.net.stream import LineStream
from popadmin.net.text import printable

STATUS = ("OK", "NO", "BAD", "BYE", "PREAUTH")
# Deep enough for BODYSTRUCTURE, shallow enough that "((((..." cannot
# exhaust the interpreter's recursion limit.
MAX_DEPTH = 50

LITERAL = re.compile(rb"~?\{(\d{1,19})\+?\}")
QUOTED = re.compile(rb'"([^"\\]*(?:\\.[^"\\]*)*)"')
ESCAPE = re.compile(rb"\\(.)")
# "[...]" belongs to the atom so that BODY[HEADER.FIELDS (A B)] is one token.
ATOM = re.compile(rb'(?:[^ ()"\[]|\[[^\]]*\]|\[)+')
FLAT_LIST = re.compile(rb'\(([^()"{\[]*)\) *')
# The listing line with its flags: (UID 1 RFC822.SIZE 10 FLAGS (\Seen)).
FLAGS_LIST = re.compile(
    rb'\(((?:[^()"{\[]* )?)FLAGS \(([^()"{\[]*)\)((?: [^()"{\[]*)?)\) *', re.IGNORECASE
)
BODY_KEY = re.compile(rb"BODY\[\](?:<\d+>)?", re.IGNORECASE)


class MalformedResponse(ProtocolError):
    """The server sent something that is not IMAP."""

    def __init__(self, what: str, line: bytes):
        super().__init__(f"{what} from server: {printable(line, 100)}")
        self.line = line


class Str(bytes):
    """A quoted string or literal, as opposed to an atom; NIL parses to None."""


@dataclass
class Streamed:
    """A literal that went to a sink instead of into memory."""

    size: int


class Literal(bytes):
    """A command argument sent as a synchronizing literal {n}."""


@dataclass
class Response:
    tag: bytes  # b"*" untagged, b"+" continuation, else the command's tag
    name: str = ""  # "OK", "FETCH", "EXISTS", "CAPABILITY", ...
    number: int | None = None  # the n of "* n EXISTS" / "* n FETCH"
    code: str | None = None  # response code of a status response: "UIDVALIDITY", ...
    code_args: bytes = b""
    text: bytes = b""  # human-readable part of a status or continuation response
    data: list = field(default_factory=list)  # parsed tokens of a data response
    line: bytes = b""  # the response's first line, for error messages


# sink_for(attributes parsed so far, literal size) -> a writer with write()
# and finish(), or None to read the literal into memory as usual.
SinkChooser = Callable[[list, int], object]


class ResponseReader:
    def __init__(self, stream: LineStream):
        self.stream = stream
        self._line = b""
        self._pos = 0
        self._count: Callable[[int], None] = lambda n: None

    def read(self, count: Callable[[int], None], sink_for: SinkChooser | None = None) -> Response:
        """The next complete response; count(n) is told of every byte taken into memory."""
        self._count = count
        line = self._readline()
        response = self._parse(line, sink_for)
        response.line = line
        return response

    def _parse(self, line: bytes, sink_for: SinkChooser | None) -> Response:
        if line[:1] == b"+":
            return Response(b"+", text=line[2:] if line[1:2] == b" " else line[1:])
        tag, _, rest = line.partition(b" ")
        word, _, rest = rest.partition(b" ")
        name = word.upper().decode("latin-1")
        if tag != b"*":
            if name not in ("OK", "NO", "BAD") or not tag:
                raise MalformedResponse("malformed response", line)
            return _status(tag, name, rest)
        if name in STATUS:
            return _status(tag, name, rest)
        if word.isdigit() and len(word) <= 10:
            kind, _, rest = rest.partition(b" ")
            response = Response(tag, kind.upper().decode("latin-1"), int(word))
            if response.name == "FETCH":
                flat = FLAT_LIST.fullmatch(rest)
                if flat:  # the usual listing line: skipping the tokenizer saves a third
                    atoms = [a for a in flat.group(1).split(b" ") if a]
                    response.data = [[None if a.upper() == b"NIL" else a for a in atoms]]
                    return response
                flags = FLAGS_LIST.fullmatch(rest)
                if flags:  # the same, with the one nested list FLAGS brings
                    before, inner, after = (g.split(b" ") for g in flags.groups())
                    response.data = [
                        [None if a.upper() == b"NIL" else a for a in before if a]
                        + [b"FLAGS", [a for a in inner if a]]
                        + [None if a.upper() == b"NIL" else a for a in after if a]
                    ]
                    return response
                self._line, self._pos = rest, 0
                if rest[:1] != b"(":
                    raise MalformedResponse("malformed FETCH response", line)
                response.data = [self._list(1, sink_for)]
                self._tokens(line)  # anything after the list, literals included
            return response  # EXISTS, EXPUNGE, RECENT: nothing else to read
        if not word or not ATOM.fullmatch(word):
            raise MalformedResponse("malformed response", line)
        self._line, self._pos = rest, 0
        response = Response(tag, name)
        response.data = self._tokens(line)
        return response

    def _readline(self) -> bytes:
        line = self.stream.readline()
        self._count(len(line) + 2)
        return line

    def _tokens(self, line: bytes) -> list:
        items: list = []
        while True:
            self._skip_spaces()
            if self._pos >= len(self._line):
                return items
            if self._line[self._pos] == 0x29:  # ")"
                raise MalformedResponse("unbalanced parenthesis in response", line)
            items.append(self._token(0, items, None))

    def _list(self, depth: int, sink_for: SinkChooser | None) -> list:
        if depth > MAX_DEPTH:
            raise MalformedResponse("too deeply nested response", self._line)
        self._pos += 1  # the "("
        items: list = []
        while True:
            self._skip_spaces()
            if self._pos >= len(self._line):
                raise MalformedResponse("unterminated list in response", self._line)
            if self._line[self._pos] == 0x29:
                self._pos += 1
                return items
            items.append(self._token(depth, items, sink_for))

    def _token(self, depth: int, context: list, sink_for: SinkChooser | None):
        line, pos = self._line, self._pos
        first = line[pos]
        if first == 0x28:  # "("
            return self._list(depth + 1, None)
        if first == 0x22:  # '"'
            match = QUOTED.match(line, pos)
            if not match:
                raise MalformedResponse("unterminated quoted string", line)
            self._pos = match.end()
            return Str(ESCAPE.sub(rb"\1", match.group(1)))
        if first in b"{~":
            match = LITERAL.fullmatch(line, pos)
            if match:
                return self._literal(int(match.group(1)), context, sink_for)
            if first == 0x7B:  # "{" cannot start an atom
                raise MalformedResponse("malformed literal", line)
        match = ATOM.match(line, pos)
        if not match:
            raise MalformedResponse("malformed response", line)
        self._pos = match.end()
        atom = match.group()
        return None if atom.upper() == b"NIL" else atom

    def _literal(self, size: int, context: list, sink_for: SinkChooser | None):
        sink = sink_for(context, size) if sink_for else None
        if sink is None:
            self._count(size)
            value = Str(self.stream.read_exact(size))
        else:
            self.stream.copy_exact(size, sink)
            sink.finish()
            value = Streamed(size)
        # The response goes on in the line after the literal.
        self._line, self._pos = self._readline(), 0
        return value

    def _skip_spaces(self) -> None:
        line, pos = self._line, self._pos
        while pos < len(line) and line[pos] == 0x20:
            pos += 1
        self._pos = pos


def _status(tag: bytes, name: str, rest: bytes) -> Response:
    code, args = None, b""
    if rest[:1] == b"[":
        end = rest.find(b"]")
        if end > 0:
            word, _, args = rest[1:end].partition(b" ")
            code = word.upper().decode("latin-1")
            rest = rest[end + 1 :].lstrip(b" ")
    return Response(tag, name, code=code, code_args=args, text=rest)


def fetch_items(response: Response) -> dict:
    """A FETCH response's attributes by upper-case name: {"UID": b"5", "BODY[]": ...}."""
    items = response.data[0] if response.data and isinstance(response.data[0], list) else []
    return {
        bytes(items[i]).upper().decode("latin-1"): items[i + 1]
        for i in range(0, len(items) - 1, 2)
        if isinstance(items[i], bytes)
    }


def number(value, limit: int = 2**32 - 1) -> int | None:
    """An unsigned number token, or None if the value is anything else."""
    if isinstance(value, bytes) and value.isdigit() and len(value) <= 20:
        n = int(value)
        return n if n <= limit else None
    return None


def is_body_key(value) -> bool:
    return isinstance(value, bytes) and bool(BODY_KEY.fullmatch(value))


class Budget:
    """Bytes one command's responses may occupy (invariant "Hostile input is
    contained": listings are bounded)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def __call__(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise LimitExceeded(f"server sent more than {self.limit} bytes in one response")


def exchange(reader, tag, args, budget, untagged, sink_for=None, respond=None) -> Response:
    """Send one command and read up to its tagged response, which is returned.

    Before each Literal argument the server must answer "+" (or refuse with
    the tagged response). respond(text) answers "+" requests that come
    after the command, as in AUTHENTICATE. untagged(response) gets every
    untagged response on the way.
    """
    stream = reader.stream
    line = tag
    for arg in args:
        if isinstance(arg, Literal):
            stream.send(line + b" {%d}\r\n" % len(arg))
            refused = _responses(reader, tag, budget, untagged, sink_for, None, literal=True)
            if refused is not None:
                return refused
            line = bytes(arg)  # the command line goes on after the literal
        else:
            line += b" " + arg
    stream.send(line + b"\r\n")
    return _responses(reader, tag, budget, untagged, sink_for, respond)


def _responses(reader, tag, budget, untagged, sink_for, respond, literal=False):
    while True:
        response = reader.read(budget, sink_for)
        if response.tag == b"*":
            untagged(response)
        elif response.tag == b"+":
            if literal:
                return None
            if respond is None:
                raise MalformedResponse("unexpected continuation request", response.line)
            reader.stream.send(respond(response.text) + b"\r\n")
        elif response.tag == tag:
            return response
        else:
            raise MalformedResponse("response with an unknown tag", response.line)


class BodySink:
    """Catches the BODY[] literal of one UID and writes it to `out` with LF endings.

    Chunk by chunk as it comes off the socket, so a message is never held
    in memory; a CR at the end of a chunk waits for the next one to see
    whether an LF follows.
    """

    def __init__(self, uid: int, out, max_bytes: int | None, where: str):
        self.uid = uid
        self.out = out
        self.max_bytes = max_bytes
        self.where = where
        self.size: int | None = None
        self.key = b""  # as the server named the body: BODY[] (or a partial BODY[]<n>)
        self.received = self.written = 0
        self.complete = False
        self._cr = False

    def sink_for(self, attributes: list, size: int):
        # A body literal in name/value position, for our UID as far as known
        # yet: RFC 3501 lets UID come before or after BODY[].
        if self.size is not None or len(attributes) % 2 == 0:
            return None
        if not is_body_key(attributes[-1]) or uid_of(attributes) not in (None, self.uid):
            return None
        if self.max_bytes is not None and size > self.max_bytes:
            raise MessageTooLarge(
                f"{self.where} is {size} bytes, larger than the limit of {self.max_bytes} bytes"
            )
        self.size = size
        self.key = bytes(attributes[-1])
        return self

    def write(self, data) -> int:
        self.received += len(data)
        chunk = b"\r" + bytes(data) if self._cr else bytes(data)
        self._cr = chunk.endswith(b"\r")
        chunk = chunk.replace(b"\r\n", b"\n")
        if self._cr:
            chunk = chunk[:-1]
        self.out.write(chunk)
        self.written += len(chunk)
        return len(data)

    def finish(self) -> None:
        if self._cr:
            self.out.write(b"\r")
            self.written += 1
            self._cr = False
        self.complete = True


def uid_of(attributes: list) -> int | None:
    for i in range(0, len(attributes) - 1, 2):
        if isinstance(attributes[i], bytes) and attributes[i].upper() == b"UID":
            return number(attributes[i + 1])
    return None


# -- command arguments ------------------------------------------------------


def quoted(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def astring(value: str) -> bytes:
    """A quoted string if 7-bit, else a literal (quoted strings cannot carry 8-bit)."""
    raw = value.encode("utf-8")
    if raw.isascii() and not any(c in raw for c in b"\r\n\0"):
        return quoted(raw)
    return Literal(raw)


def mailbox(name: str) -> bytes:
    # INBOX is case-insensitive and never encoded (RFC 3501 §5.1).
    return b"INBOX" if name.upper() == "INBOX" else quoted(mutf7_encode(name))


def mutf7_encode(name: str) -> bytes:
    """Modified UTF-7 for mailbox names (RFC 3501 §5.1.3)."""
    out: list[bytes] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be", "surrogatepass")
            out.append(b"&" + base64.b64encode(raw).rstrip(b"=").replace(b"/", b",") + b"-")
            pending.clear()

    for ch in name:
        if " " <= ch <= "~":
            flush()
            out.append(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            pending.append(ch)
    flush()
    return b"".join(out)


def uid_sets(uids: list[int], max_len: int = 4000) -> list[bytes]:
    """Sorted UIDs as "1:3,7" sequence sets, split so no command line gets too long."""
    ranges: list[list[int]] = []
    for uid in sorted(set(uids)):
        if ranges and ranges[-1][1] == uid - 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    sets, current = [], b""
    for first, last in ranges:
        part = b"%d" % first if first == last else b"%d:%d" % (first, last)
        if current and len(current) + len(part) + 1 > max_len:
            sets.append(current)
            current = b""
        current = current + b"," + part if current else part
    if current:
        sets.append(current)
    return sets
