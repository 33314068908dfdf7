"""A small IMAP client for one job: put a message into a folder (RFC 3501 APPEND).

Only what the APPEND backend needs: greeting, CAPABILITY, STARTTLS, login
(AUTHENTICATE PLAIN or LOGIN, or AUTHENTICATE XOAUTH2 / OAUTHBEARER with a bearer token),
EXAMINE, UID SEARCH, UID FETCH of one header field, CREATE, APPEND with a
synchronizing literal streamed from the spool in chunks, NOOP, LOGOUT.

Everything the server sends goes through the bounded LineStream: no line
over the limit, and literals in responses (a FETCHed header, say) are
capped at the same limit, so a hostile server cannot make us hold more.
Errors are ProtocolError (the wire) or ImapRefused (a NO/BAD to a command).
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from popadmin.net import sasl
from popadmin.net.errors import ProtocolError
from popadmin.net.stream import LineStream
from popadmin.net.text import printable

CHUNK = 256 * 1024
MAX_LINE = 64 * 1024  # one response line, and one literal inside a response
MAX_RESPONSES = 100_000  # untagged responses to one command (a SEARCH of a huge folder is one)

_LITERAL_AT_END = re.compile(rb"~?\{(\d{1,12})\+?\}$")
_STATUS = re.compile(rb"(OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])? ?(.*)", re.IGNORECASE)
# Quotable: printable ASCII without the two characters that would need escaping
# rules some servers get wrong; anything else goes as a literal.
_QUOTABLE = re.compile(rb"[\x20-\x7e]*")


class AuthError(ProtocolError):
    """The destination refused our login."""


class ImapRefused(ProtocolError):
    """The server answered a command with NO or BAD."""

    def __init__(self, what: str, reply: Reply):
        super().__init__(f"{what}: {reply}")
        self.reply = reply


@dataclass(frozen=True)
class Reply:
    status: str  # OK | NO | BAD | BYE
    code: str  # the response code's name, e.g. "APPENDUID", "TRYCREATE", "OVERQUOTA"
    code_args: str
    text: str

    def __str__(self) -> str:
        args = f" {self.code_args}" if self.code_args else ""
        code = f"[{self.code}{args}] " if self.code else ""
        return printable(f"{self.status} {code}{self.text}".strip(), 300)


@dataclass
class Untagged:
    line: bytes  # the response with each literal replaced by "{n}"
    literals: list[bytes]


def quote(value: bytes) -> bytes:
    """A quoted string, or b"" when the value must go as a literal."""
    if _QUOTABLE.fullmatch(value):
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b""


def encode_folder(name: str) -> bytes:
    """Modified UTF-7 (RFC 3501 5.1.3): what servers without UTF8=ACCEPT expect."""
    out, pending = [], []

    def flush():
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if "\x20" <= ch <= "\x7e":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out).encode("ascii")


class ImapClient:
    def __init__(self, stream: LineStream):
        self.stream = stream
        self.capabilities: set[str] = set()
        self._tags = itertools.count(1)

    # -- responses -----------------------------------------------------------

    def _read(self) -> Untagged:
        line = self.stream.readline()
        literals = []
        while match := _LITERAL_AT_END.search(line):
            size = int(match.group(1))
            if size > MAX_LINE:
                self.stream.close()
                raise ProtocolError(f"server sent a {size}-byte literal, over {MAX_LINE}")
            literals.append(self.stream.read_exact(size))
            line = line + b" " + self.stream.readline()
            if len(line) > MAX_LINE:
                self.stream.close()
                raise ProtocolError(f"server sent a response longer than {MAX_LINE} bytes")
        return Untagged(line, literals)

    def greeting(self) -> str:
        """OK or PREAUTH; anything else ends the session."""
        response = self._read()
        match = _STATUS.fullmatch(response.line[2:]) if response.line[:2] == b"* " else None
        if match is None or match.group(1).upper() not in (b"OK", b"PREAUTH"):
            raise ProtocolError(f"server refused the connection: {printable(response.line)}")
        self._note_capabilities(match.group(2) or b"")
        return match.group(1).upper().decode()

    def command(
        self, *parts: bytes, on_data: Callable[[Untagged], None] | None = None,
        literal: tuple[list[BinaryIO], int, bool] | None = None,
        respond: Callable[[bytes], bytes] | None = None,
        what: str = "",
    ) -> Reply:
        """Send one command; the tagged reply if OK, else ImapRefused.

        A part that cannot be quoted goes as a synchronizing literal. With
        `literal` (sources, size on the wire, binary) the command ends in "{size}"
        (literal8 "~{size}" for binary, RFC 3516) and
        the spool follows, LF endings sent as CRLF, once the server says go.
        `respond` answers "+" challenges of AUTHENTICATE.
        """
        tag = b"A%d" % next(self._tags)
        line = tag
        for part in parts:
            if isinstance(part, _Lit):
                self.stream.send(line + b" {%d}\r\n" % len(part.value))
                self._continuation(tag, what)
                line = part.value
            else:
                line += b" " + part
        if literal is not None:
            sources, size, binary = literal
            self.stream.send(line + (b" ~{%d}\r\n" if binary else b" {%d}\r\n") % size)
            self._continuation(tag, what)
            _send_crlf(self.stream, sources)
            self.stream.send(b"\r\n")
        else:
            self.stream.send(line + b"\r\n")
        return self._finish(tag, what or parts[0].decode(errors="replace"), on_data, respond)

    def _continuation(self, tag: bytes, what: str) -> None:
        response = self._read()
        if response.line.startswith(b"+"):
            return
        if response.line.startswith(tag + b" "):
            raise ImapRefused(what, self._reply(response.line[len(tag) + 1:]))
        self.stream.close()
        raise ProtocolError(f"{what}: expected a continuation, got {printable(response.line)}")

    def _finish(self, tag, what, on_data, respond) -> Reply:
        for _ in range(MAX_RESPONSES):
            response = self._read()
            line = response.line
            if line.startswith(tag + b" "):
                reply = self._reply(line[len(tag) + 1:])
                if reply.status != "OK":
                    raise ImapRefused(what, reply)
                return reply
            if line.startswith(b"+"):
                if respond is None:
                    self.stream.close()
                    raise ProtocolError(f"{what}: unexpected continuation from server")
                self.stream.send(respond(line[2:]) + b"\r\n")
                continue
            if line.upper().startswith(b"* BYE"):
                self.stream.close()
                raise ProtocolError(f"server closed the session: {printable(line[6:])}")
            if line.upper().startswith(b"* CAPABILITY "):
                self.capabilities = set(line[13:].decode("ascii", "replace").upper().split())
            elif on_data is not None:
                on_data(response)
        self.stream.close()
        raise ProtocolError(f"{what}: more than {MAX_RESPONSES} responses")

    def _reply(self, rest: bytes) -> Reply:
        match = _STATUS.fullmatch(rest)
        if match is None:
            self.stream.close()
            raise ProtocolError(f"server sent something that is not a reply: {printable(rest)}")
        code, _, args = (match.group(2) or b"").partition(b" ")
        if code.upper() == b"CAPABILITY":
            self._note_capabilities(match.group(2))
        return Reply(match.group(1).upper().decode(), printable(code.upper(), 40),
                     printable(args, 200), printable(match.group(3), 300))

    def _note_capabilities(self, code: bytes) -> None:
        words = code.decode("ascii", "replace").upper().split()
        if words[:1] == ["CAPABILITY"]:
            self.capabilities = set(words[1:])

    # -- commands ------------------------------------------------------------

    def capability(self) -> None:
        self.command(b"CAPABILITY")

    def login(self, username: str, password: str) -> None:
        user, secret = username.encode("utf-8"), password.encode("utf-8")
        try:
            if "AUTH=PLAIN" in self.capabilities:
                blob = base64.b64encode(b"\0" + user + b"\0" + secret)
                if "SASL-IR" in self.capabilities:
                    self.command(b"AUTHENTICATE", b"PLAIN", blob, what="AUTHENTICATE PLAIN")
                else:
                    self.command(b"AUTHENTICATE", b"PLAIN", respond=lambda _: blob,
                                 what="AUTHENTICATE PLAIN")
            elif "LOGINDISABLED" in self.capabilities:
                raise AuthError("the server does not allow a password login here (LOGINDISABLED)")
            else:
                self.command(b"LOGIN", astring(user), astring(secret), what="LOGIN")
        except ImapRefused as exc:
            raise AuthError(f"login as {printable(username, 100)!r} failed: {exc.reply}")
        if not any(c.startswith("IMAP4") for c in self.capabilities):
            self.capability()  # what the server offers once logged in

    def authenticate_bearer(self, mechanism: str, username: str, token: str,
                            host: str, port: int) -> None:
        """AUTHENTICATE XOAUTH2 or OAUTHBEARER. A refused token comes back as an error
        challenge, answered as the mechanism says so the server ends with NO."""
        name = sasl.MECHANISMS[mechanism]
        if f"AUTH={name}" not in self.capabilities:
            raise AuthError(f"the server does not offer AUTHENTICATE {name}")
        response = sasl.initial_response(mechanism, username, token, host, port)
        sent = [False]
        errors: list[str] = []

        def respond(challenge: bytes) -> bytes:
            if not sent[0]:
                sent[0] = True
                if challenge.strip() == b"":
                    return response
            errors.append(printable(sasl.challenge_text(challenge), 200))
            return sasl.failure_reply(mechanism)

        what = f"AUTHENTICATE {name}"
        try:
            if "SASL-IR" in self.capabilities:
                sent[0] = True
                self.command(b"AUTHENTICATE", name.encode(), response, respond=respond,
                             what=what)
            else:
                self.command(b"AUTHENTICATE", name.encode(), respond=respond, what=what)
        except ImapRefused as exc:
            why = f" ({errors[0]})" if errors else ""
            raise AuthError(f"sign-in refused for {printable(username, 100)!r}: "
                            f"{exc.reply}{why}") from None
        if not any(c.startswith("IMAP4") for c in self.capabilities):
            self.capability()

    def examine(self, folder: bytes) -> None:
        self.command(b"EXAMINE", astring(folder))

    def uid_search(self, *criteria: bytes) -> list[int]:
        found: list[int] = []

        def on_data(response: Untagged):
            words = response.line.split()
            if words[:2] == [b"*", b"SEARCH"] or words[1:2] == [b"SEARCH"]:
                found.extend(int(w) for w in words[2:] if w.isdigit())

        self.command(b"UID", b"SEARCH", *criteria, on_data=on_data, what="UID SEARCH")
        return found

    def uid_fetch_header(self, uids: list[int], field: bytes) -> list[bytes]:
        """The named header field of each message (one literal each), read with PEEK."""
        found: list[bytes] = []
        if not uids:
            return found
        self.command(
            b"UID", b"FETCH", b",".join(b"%d" % u for u in uids[:1000]),
            b"(BODY.PEEK[HEADER.FIELDS (" + field + b")])",
            on_data=lambda r: found.extend(r.literals) if b" FETCH " in r.line[:40].upper()
            else None, what="UID FETCH",
        )
        return found

    def create(self, folder: bytes) -> None:
        try:
            self.command(b"CREATE", astring(folder))
        except ImapRefused as exc:
            if exc.reply.code != "ALREADYEXISTS":
                raise
        try:
            self.command(b"SUBSCRIBE", astring(folder))  # so mail clients show the new folder
        except ImapRefused:
            pass

    def append(self, folder: bytes, flags: bytes, date: bytes, sources: list[BinaryIO],
               size: int, binary: bool = False) -> Reply:
        """`sources` (trace prefix, spool) are sent one after the other as one literal."""
        parts = [b"APPEND", astring(folder), b"(" + flags + b")"]
        if date:
            parts.append(b'"' + date + b'"')
        return self.command(*parts, literal=(sources, size, binary), what="APPEND")

    def noop(self) -> None:
        self.command(b"NOOP")

    def logout(self) -> None:
        try:
            if not self.stream.closed:
                self.command(b"LOGOUT")
        except ProtocolError:
            pass
        finally:
            self.stream.close()


class _Lit:
    """An argument sent as a synchronizing literal: it cannot be quoted."""

    def __init__(self, value: bytes):
        self.value = value


def astring(value: bytes) -> bytes | _Lit:
    """An argument as a quoted string, or as a literal when it cannot be quoted."""
    return quote(value) or _Lit(value)


def _send_crlf(stream: LineStream, sources: list[BinaryIO]) -> None:
    """The sources (LF endings) as CRLF lines, ending in CRLF, chunk by chunk."""
    last = b"\n"
    for source in sources:
        source.seek(0)
        for chunk in iter(lambda s=source: s.read(CHUNK), b""):
            stream.send(chunk.replace(b"\n", b"\r\n"))
            last = chunk[-1:]
    if last != b"\n":
        stream.send(b"\r\n")


def wire_size(sources: list[BinaryIO]) -> tuple[int, bool]:
    """(bytes _send_crlf will send, whether there is a NUL byte): the literal's {size}."""
    size, nul, last = 0, False, b"\n"
    for source in sources:
        source.seek(0)
        for chunk in iter(lambda s=source: s.read(CHUNK), b""):
            size += len(chunk) + chunk.count(b"\n")
            nul = nul or b"\0" in chunk
            last = chunk[-1:]
    return size + (2 if last != b"\n" else 0), nul


def list_delimiter(client: ImapClient) -> str:
    """The server's hierarchy separator (LIST "" ""), "/" when it has none."""
    found = []

    def on_data(response: Untagged):
        match = re.match(rb'\* LIST \([^)]*\) "(.)"', response.line, re.IGNORECASE)
        if match:
            found.append(match.group(1).decode("ascii", "replace"))

    client.command(b"LIST", b'""', b'""', on_data=on_data)
    return found[0] if found else "/"
