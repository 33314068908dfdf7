"""A streaming POP3 client (RFC 1939, 2449 CAPA, 2595 STLS, 5034 AUTH).

Not poplib: it keeps whole messages in memory as lists of lines and has no
bound on a listing. Here every response is read line by line through
LineStream, messages go straight into the caller's file, and listings are
capped in total size.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterator
from typing import BinaryIO

from popadmin.net import tls
from popadmin.net.errors import LimitExceeded, MessageTooLarge, ProtocolError, TLSError
from popadmin.net.sockets import open_socket as _open_socket
from popadmin.net.stream import ConnectionClosed, LineStream
from popadmin.net.text import printable, redact

from . import sasl_oauth
from .base import MAX_LISTING, AuthError, ConnectionParams, MailSession, RemoteMessage

log = logging.getLogger(__name__)

APOP_TIMESTAMP = re.compile(rb"<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>")
UIDL_MAX = 70  # RFC 1939: 1 to 70 characters in 0x21-0x7E
UIDL_LEGAL = re.compile(rb"[\x21-\x7e]{1,%d}" % UIDL_MAX)
# RFC 2449 section 4: a command is at most 255 octets with its CRLF. Some
# servers treat more as an attack (IMail blocks the client's address for a
# command over 512 characters), so nothing longer is ever sent.
MAX_COMMAND = 255
# An AUTH continuation line (RFC 5034) is not a command and carries long
# credentials, but stays within the 512 that the strictest servers accept.
MAX_SASL_LINE = 512
# An OAuth2 initial response carries an access token (Microsoft's run past
# 2,000 characters); it only ever goes on a continuation line of its own.
MAX_OAUTH_LINE = 16 * 1024


def user_pass_too_long(username: str, password: str) -> str:
    """Why USER/PASS cannot carry these credentials, or ""."""
    longest = max(len(username.encode()), len(password.encode())) + len(b"USER \r\n")
    if longest <= MAX_COMMAND:
        return ""
    return (
        f"USER/PASS with this username and password would be a {longest}-octet command, "
        f"over the {MAX_COMMAND} octets POP3 allows (RFC 2449)"
    )


def plain_response(username: str, password: str) -> bytes:
    return base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode())


def credentials_too_long(username: str, password: str) -> str:
    """Why no POP3 login method can carry these credentials, or "".

    USER/PASS takes up to 248 octets each; beyond that only SASL PLAIN
    (with the response on a line of its own) can send them.
    """
    if not user_pass_too_long(username, password):
        return ""
    line = len(plain_response(username, password)) + 2
    if line <= MAX_SASL_LINE:
        return ""
    return (
        f"the username and password are too long for POP3: even a SASL PLAIN login "
        f"would send a {line}-octet line, over the {MAX_SASL_LINE} that servers accept"
    )


class _Refused(ProtocolError):
    """-ERR from the server; the session is still in a known state."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class POP3Session(MailSession):
    max_listing = MAX_LISTING  # per multi-line response; an attribute so tests can lower it

    def __init__(self, params: ConnectionParams):
        super().__init__(params)
        self._stream: LineStream | None = None
        self.capabilities: dict[str, list[str]] = {}
        self.auth_method: str | None = None
        self._timestamp: bytes | None = None
        self._listing: list[RemoteMessage] | None = None
        self._top_refused = False

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

    def _login(self) -> None:
        if self.params.sasl in sasl_oauth.MECHANISMS:
            return self._auth_oauth()
        user, password = self.params.username, self.params.password
        # A line break would end the command early and let the rest run as a
        # command of its own; NUL cannot be sent by any of the methods.
        if any(c in s for s in (user, password) for c in "\r\n\0"):
            raise AuthError("the username or password contains a line break or NUL byte")
        sasl = self.capabilities.get("SASL", [])
        plain_ascii = user.isascii() and password.isascii()
        too_long = user_pass_too_long(user, password)
        if "PLAIN" in sasl and (not plain_ascii or "USER" not in self.capabilities or too_long):
            return self._auth_plain(user, password)
        # APOP keeps the password off an unencrypted wire; over TLS USER/PASS
        # is as safe and works with hashed password stores.
        if self._timestamp and self.params.security == "none" and plain_ascii:
            try:
                return self._apop(user, password)
            except AuthError:
                log.info("APOP refused by %s; trying USER/PASS", self.params.host)
        if too_long:
            raise AuthError(
                f"{too_long}, and the server offers no SASL PLAIN login that could carry "
                "them; nothing was sent"
            )
        self.auth_method = "USER"
        self._login_step(b"USER " + user.encode())
        self._login_step(b"PASS " + password.encode())

    def _apop(self, user: str, password: str) -> None:
        digest = hashlib.md5(self._timestamp + password.encode(), usedforsecurity=False)
        command = b"APOP %s %s" % (user.encode(), digest.hexdigest().encode())
        if len(command) + 2 > MAX_COMMAND:
            raise AuthError("the username is too long for APOP")
        self.auth_method = "APOP"
        self._login_step(command)

    def _auth_plain(self, user: str, password: str) -> None:
        # Never the initial-response form: the continuation keeps the AUTH
        # command short however long the credentials are (RFC 5034 section 4).
        problem = credentials_too_long(user, password)
        if problem:
            raise AuthError(f"{problem}; nothing was sent")
        self.auth_method = "AUTH PLAIN"
        self._login_step(b"AUTH PLAIN", expect=b"+ ")
        self._login_step(plain_response(user, password), limit=MAX_SASL_LINE)

    def _auth_oauth(self) -> None:
        p = self.params
        if any(c in p.username for c in "\r\n\0\x01"):
            raise AuthError("the username contains a line break or control character")
        if not p.bearer:
            raise AuthError("no OAuth2 access token for this account: sign-in expired: reconnect")
        name = sasl_oauth.MECHANISMS[p.sasl]
        self.auth_method = f"AUTH {name}"
        response = sasl_oauth.initial_response(p.sasl, p.username, p.bearer, p.host, p.port)
        command = b"AUTH %s" % name.encode()
        # RFC 5034 allows the response on the AUTH line, but only within the
        # 255 octets of a command; a longer one (and Office 365 wants it so
        # whatever its length) follows the server's "+ " on a line of its own.
        if len(command) + 1 + len(response) + 2 <= MAX_COMMAND:
            line = self._oauth_step(command + b" " + response, MAX_COMMAND)
            if line is not None and line.rstrip() == b"+":  # an empty challenge: send it again
                line = self._oauth_step(response, MAX_OAUTH_LINE)
        else:
            line = self._oauth_step(command, MAX_COMMAND, expect_challenge=True)
            if line is None:
                line = self._oauth_step(response, MAX_OAUTH_LINE)
        if line is None:
            return
        # An error challenge: answer it so the server ends the exchange with -ERR.
        detail = sasl_oauth.challenge_text(line[1:])
        self._send(sasl_oauth.failure_reply(p.sasl))
        final = self._io().readline()
        if not final.startswith(b"-ERR"):
            self.close()
        text = self._text(final[4:]) if final.startswith(b"-ERR") else ""
        raise AuthError(
            f"sign-in refused by server: reconnect ({printable(detail.encode(), 200)}"
            f"{'; ' + text if text else ''})"
        )

    def _oauth_step(self, line: bytes, limit: int, expect_challenge=False) -> bytes | None:
        """Send one line; None when the server is content, else its "+ ..." challenge."""
        stream = self._io()
        self._send(line, limit)
        answer = stream.readline()
        if expect_challenge and (answer.startswith(b"+ ") or answer == b"+"):
            return None
        if not expect_challenge and answer.startswith(b"+OK"):
            return None
        if not expect_challenge and answer[:1] == b"+" and answer[:3] != b"+OK":
            return answer
        if answer.startswith(b"-ERR"):
            raise AuthError(f"sign-in refused by server: reconnect ({self._text(answer[4:])})")
        self.close()
        raise ProtocolError(f"unexpected answer from server during login: {self._text(answer)}")

    def _login_step(self, command: bytes, expect: bytes = b"+OK", limit=MAX_COMMAND) -> None:
        stream = self._io()
        self._send(command, limit)
        line = stream.readline()
        if line.startswith(expect) or (expect == b"+ " and line == b"+"):
            return
        if line.startswith(b"-ERR"):
            raise AuthError(f"login refused by server: {self._text(line[4:])}")
        self.close()
        raise ProtocolError(f"unexpected answer from server during login: {self._text(line)}")

    def _send(self, command: bytes, limit: int = MAX_COMMAND) -> None:
        # The last line of defence: the callers already keep within the limit.
        if len(command) + 2 > limit:
            verb = command.split(b" ")[0][:10].decode("ascii", "replace")
            raise ProtocolError(f"refusing to send a {verb} command over {limit} octets")
        self._io().send(command + b"\r\n")

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
            if seen:
                uid = self._unique(uid, seen + 1, counts)
            listing.append(RemoteMessage(uid, str(number), size))
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

    def fetch(self, msg: RemoteMessage, out: BinaryIO, max_bytes: int | None = None) -> int:
        number = _number(msg)
        try:
            self._command(b"RETR %d" % number)
        except _Refused as exc:
            raise ProtocolError(f"server refused to send message {number}: {exc.text}")
        try:
            written = self._io().copy_dot_terminated(out, max_bytes)
        except MessageTooLarge as exc:
            self.close()  # the rest of the message is still on the wire
            raise MessageTooLarge(f"message {number} is {exc}")
        except ConnectionClosed:
            self.close()
            raise ProtocolError(f"connection lost while downloading message {number}")
        except LimitExceeded:
            self.close()
            raise
        except ProtocolError as exc:
            self.close()
            raise ProtocolError(f"{exc} while downloading message {number}")
        return written

    def delete(self, msg: RemoteMessage) -> None:
        number = _number(msg)
        try:
            self._command(b"DELE %d" % number)
        except _Refused as exc:
            raise ProtocolError(f"server refused to delete message {number}: {exc.text}")

    def commit(self) -> None:
        self._io()  # a session already closed has nothing to confirm
        try:
            self._command(b"QUIT")
        except ProtocolError:
            raise ProtocolError("server did not confirm QUIT; deletions may not have been applied")
        finally:
            self.close()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    # -- protocol plumbing --------------------------------------------------

    def _io(self) -> LineStream:
        if self._stream is None or self._stream.closed:
            raise ProtocolError("not connected to the server")
        return self._stream

    def _command(self, command: bytes) -> str:
        """Send one command; return the +OK text or raise _Refused with the -ERR text."""
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


def _number(msg: RemoteMessage) -> int:
    if not msg.handle.isdigit():
        raise ProtocolError(f"not a POP3 message number: {printable(msg.handle, 50)}")
    return int(msg.handle)
