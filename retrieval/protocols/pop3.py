"""A streaming POP3 client (RFC 1939, 2449 CAPA, 2595 STLS, 5034 AUTH).

Not poplib: it keeps whole messages in memory as lists of lines and has no
bound on a listing. Here every response is read line by line through
LineStream, messages go straight into the caller's file, and listings are
capped in total size.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator

from popadmin.net import sasl as sasl_oauth
from popadmin.net import tls
from popadmin.net.errors import LimitExceeded, ProtocolError, TLSError
from popadmin.net.sockets import open_socket as _open_socket
from popadmin.net.stream import LineStream
from popadmin.net.text import printable, redact

from .base import MAX_LISTING, ConnectionParams, MailSession, RemoteMessage
from .header_digest import header_digest
from .pop3_login import (  # noqa: F401  (re-exported: forms and tests use them)
    APOP_TIMESTAMP,
    MAX_COMMAND,
    MAX_OAUTH_LINE,
    MAX_SASL_LINE,
    POP3Login,
    _Refused,
    credentials_too_long,
    plain_response,
    user_pass_too_long,
)
from .pop3_pipeline import DELE_BURST, RETR_WINDOW, POP3Pipeline, _number  # noqa: F401

log = logging.getLogger(__name__)

UIDL_MAX = 70  # RFC 1939: 1 to 70 characters in 0x21-0x7E
UIDL_LEGAL = re.compile(rb"[\x21-\x7e]{1,%d}" % UIDL_MAX)


class POP3Session(POP3Pipeline, POP3Login, MailSession):
    max_listing = MAX_LISTING  # per multi-line response; an attribute so tests can lower it

    def __init__(self, params: ConnectionParams):
        super().__init__(params)
        self._stream: LineStream | None = None
        self.capabilities: dict[str, list[str]] = {}
        self.auth_method: str | None = None
        self._timestamp: bytes | None = None
        self._listing: list[RemoteMessage] | None = None
        self._top_refused = False
        self._init_pipeline()

    # -- connection ---------------------------------------------------------

    def connect(self) -> None:
        p = self.params
        if p.security not in ("tls", "starttls", "none"):
            raise ProtocolError(f"unknown security setting {p.security!r}")
        sock = _open_socket(p.host, p.port, p.timeout, p.reach)
        try:
            if p.security == "tls":
                sock = tls.connect_tls(sock, p)
            self._stream = LineStream(sock, p.timeout)
            self._greeting()
            if p.security == "starttls":
                self._starttls()
            self.capabilities = self._capa()
            self._login()
        except BaseException:
            self.close()
            sock.close()
            raise
        log.debug("POP3 login to %s:%s as %s (%s)", p.host, p.port, p.username, self.auth_method)

    def _greeting(self) -> None:
        line = self._io().readline()
        if not line.startswith(b"+OK"):
            raise ProtocolError(f"unexpected greeting from server: {printable(line, 100)}")
        match = APOP_TIMESTAMP.search(line)
        self._timestamp = match.group() if match else None

    def _starttls(self) -> None:
        if "STLS" not in self._capa():
            raise TLSError("server does not offer STLS; refusing to send the password unencrypted")
        try:
            self._command(b"STLS")
        except _Refused as exc:
            raise TLSError(f"server refused STLS: {exc.text}")
        self._io().start_tls(tls.make_context(self.params), self.params.host)

    def _capa(self) -> dict[str, list[str]]:
        try:
            self._command(b"CAPA")
        except _Refused:
            return {}  # a pre-RFC 2449 server; every later decision treats that as "unknown"
        capabilities = {}
        for line in self._lines(self.max_listing):
            words = line.decode("latin-1").split()
            if words:
                capabilities[words[0].upper()] = [w.upper() for w in words[1:]]
        return capabilities



    # -- mailbox ------------------------------------------------------------

    def list_messages(self) -> list[RemoteMessage]:
        if self._listing is not None:
            return list(self._listing)
        uidls = self._uidl()
        self._command(b"LIST")
        sizes: dict[int, int] = {}
        for line in self._lines(self.max_listing):
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit() and len(parts[0]) <= 10:
                sizes[int(parts[0])] = int(parts[1]) if parts[1].isdigit() else 0
        counts: dict[str, int] = {}
        listing = []
        for number, size in sorted(sizes.items()):
            uid = uidls.get(number) if uidls is not None else None
            if uid is None:
                uid = self._content_uid(number, size)
            seen = counts.get(uid, 0)
            counts[uid] = seen + 1
            repeat_of = ""
            if seen:
                uid, repeat_of = self._unique(uid, seen + 1, counts), uid
            listing.append(RemoteMessage(uid, str(number), size, repeat_of=repeat_of))
        self._listing = listing
        return list(listing)

    def _uidl(self) -> dict[int, str] | None:
        try:
            self._command(b"UIDL")
        except _Refused:
            return None
        uidls = {}
        legal = UIDL_LEGAL.fullmatch
        for line in self._lines(self.max_listing):
            parts = line.split(None, 1)
            if len(parts) < 2 or not parts[0].isdigit() or len(parts[0]) > 10:
                continue  # without a usable UIDL the message falls back to a content hash
            raw = parts[1].strip()
            if legal(raw):
                uidls[int(parts[0])] = raw.decode("ascii")
            else:
                uidls[int(parts[0])] = "sha256:" + hashlib.sha256(raw).hexdigest()
        return uidls

    @staticmethod
    def _unique(uid: str, n: int, counts: dict[str, int]) -> str:
        candidate = f"{uid}#dup{n}"
        while candidate in counts:  # the server may itself list "x#dup2"
            n += 1
            candidate = f"{uid}#dup{n}"
        counts[candidate] = 1
        return candidate

    def _content_uid(self, number: int, size: int) -> str:
        """A stable identity for servers without UIDL: the headers, else the message."""
        digest = hashlib.sha256()
        try:
            if self._top_refused:
                raise _Refused("TOP refused before")
            self._command(b"TOP %d 0" % number)
        except _Refused:
            self._top_refused = True
            try:
                self._command(b"RETR %d" % number)
            except _Refused as exc:
                raise ProtocolError(f"server refused to send message {number}: {exc.text}")
        for line in self._lines(self.max_listing):
            digest.update(line + b"\n")
        digest.update(b"\0size=%d" % size)
        return "sha256:" + digest.hexdigest()

    @property
    def checks_headers(self) -> bool:
        return not self._top_refused

    def header_digests(self, msgs: list[RemoteMessage]) -> dict[str, str]:
        """`TOP n 0` for each message, in bursts where the server offers PIPELINING.
        A server that refuses TOP is not asked again in this session."""
        found: dict[str, str] = {}
        if self._top_refused or not msgs:
            return found
        self._drain()
        burst = DELE_BURST if self.pipelining else 1
        for start in range(0, len(msgs), burst):
            chunk = msgs[start : start + burst]
            self._io().send(b"".join(b"TOP %d 0\r\n" % _number(m) for m in chunk))
            for msg in chunk:
                self._io().new_response()
                line = self._io().readline()
                if line.startswith(b"-ERR"):
                    self._top_refused = True
                elif line.startswith(b"+OK"):
                    found[msg.uid] = header_digest(self._lines(self.max_listing))
                else:
                    self.close()
                    raise ProtocolError(
                        f"unexpected answer from server to TOP: {self._text(line)}")
            if self._top_refused:
                break
        return found

    def delete(self, msg: RemoteMessage) -> None:
        number = _number(msg)
        try:
            self._command(b"DELE %d" % number)
        except _Refused as exc:
            raise ProtocolError(f"server refused to delete message {number}: {exc.text}")

    def _answer(self, verb: bytes, refused: str) -> str:
        line = self._io().readline()
        if line.startswith(b"+OK"):
            return self._text(line[3:])
        if line.startswith(b"-ERR"):
            raise ProtocolError(f"{refused}: {self._text(line[4:])}")
        self.close()
        raise ProtocolError(
            f"unexpected answer from server to {verb.decode()}: {self._text(line)}")

    def commit(self) -> None:
        self._io()  # a session already closed has nothing to confirm
        self._drain()  # a refused DELE is reported as such, not as an unconfirmed QUIT
        try:
            self._command(b"QUIT")
        except ProtocolError:
            raise ProtocolError("server did not confirm QUIT; deletions may not have been applied")
        finally:
            self.close()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self._init_pipeline()  # nothing sent ahead survives the connection
        if stream is not None:
            stream.close()

    # -- protocol plumbing --------------------------------------------------

    def _io(self) -> LineStream:
        if self._stream is None or self._stream.closed:
            raise ProtocolError("not connected to the server")
        return self._stream

    def _command(self, command: bytes) -> str:
        """Send one command; return the +OK text or raise _Refused with the -ERR text."""
        self._drain()  # answers owed to commands sent ahead come first
        stream = self._io()
        self._send(command)
        line = stream.readline()
        if line.startswith(b"+OK"):
            return self._text(line[3:])
        if line.startswith(b"-ERR"):
            raise _Refused(self._text(line[4:]))
        self.close()
        verb = command.split(b" ")[0].decode("ascii", "replace")
        raise ProtocolError(f"unexpected answer from server to {verb}: {self._text(line)}")

    def _lines(self, limit: int | None) -> Iterator[bytes]:
        """The body of a multi-line response, dot-unstuffed, up to the final "."."""
        stream = self._io()
        total = 0
        while True:
            line = stream.readline()
            if line[:1] == b".":
                if len(line) == 1:
                    return
                line = line[1:]
            if limit is not None:
                total += len(line) + 2
                if total > limit:
                    self.close()
                    raise LimitExceeded(f"server sent more than {limit} bytes in one response")
            yield line

    def _text(self, raw: bytes) -> str:
        """Server text for an error message, with the password masked if echoed."""
        text = printable(raw)
        for secret in self._secret_forms():
            text = redact(text, secret)
        return text

    def _secret_forms(self) -> tuple[str, ...]:
        # The AUTH PLAIN response carries the password too, and a server that
        # cannot decode it may quote it back.
        user, password = self.params.username, self.params.password
        p = self.params
        forms = ()
        if p.bearer and p.sasl in sasl_oauth.MECHANISMS:
            ir = sasl_oauth.initial_response(p.sasl, p.username, p.bearer, p.host, p.port)
            forms = (ir.decode(), p.bearer)
        if not password:
            return forms
        return (plain_response(user, password).decode(), password, *forms)
