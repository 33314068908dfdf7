"""The IMAP conversation under IMAPSession: greeting, STARTTLS, login, and
running one command to its tagged answer with every byte counted.

Split from imap.py so each file holds one concern: this one the wire and the
login, imap.py the mailbox (listing, fetching, deleting).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

from popadmin.net import sasl as sasl_oauth
from popadmin.net import tls
from popadmin.net.errors import ProtocolError, TLSError
from popadmin.net.stream import ConnectionClosed, LineStream
from popadmin.net.text import printable, redact

from .base import AuthError, FetchFailed, SignInRefused
from .imap_parse import STATUS, Budget, MalformedResponse, Response, astring, exchange, number

log = logging.getLogger(__name__)


class IncompleteMessage(FetchFailed):
    """The connection failed while a message body was arriving; the output is partial."""

    def __init__(self, text: str, received: int, expected: int):
        super().__init__(text, connected=False)
        self.received = received
        self.expected = expected


class _Refused(ProtocolError):
    """A tagged NO or BAD: the command failed, but the session is still in a known state."""

    def __init__(self, response: Response, text: str):
        super().__init__(text)
        self.text = text
        self.code = response.code



class IMAPWire:
    """Greeting, STARTTLS, login and the command loop; IMAPSession supplies the state."""

    def _greeting(self) -> bool:
        """True if the server says the connection is already authenticated."""
        try:
            response = self._reader.read(Budget(self.max_listing))
        except MalformedResponse as exc:
            raise ProtocolError(f"unexpected greeting from server: {printable(exc.line, 100)}")
        if response.tag == b"*" and response.name in ("OK", "PREAUTH"):
            self._note_code(response)
            return response.name == "PREAUTH"
        if response.tag == b"*" and response.name == "BYE":
            raise ProtocolError(f"server refused the connection: {self._text(response)}")
        raise ProtocolError(f"unexpected greeting from server: {printable(response.line, 100)}")

    def _starttls(self) -> None:
        if not self._caps_seen:
            self._capability()
        if "STARTTLS" not in self.capabilities:
            raise TLSError(
                "server does not offer STARTTLS; refusing to send the password unencrypted"
            )
        try:
            self._command(b"STARTTLS")
        except _Refused as exc:
            raise TLSError(f"server refused STARTTLS: {exc.text}")
        self._io().start_tls(tls.make_context(self.params), self.params.host)
        # Capabilities seen in clear may have been forged (RFC 3501 §6.2.1).
        self.capabilities, self._caps_seen = set(), False

    def _capability(self) -> None:
        try:
            self._command(b"CAPABILITY")
        except _Refused:
            pass  # nothing advertised: only plain IMAP4rev1 is used

    def _login(self) -> None:
        p = self.params
        if p.security != "none" and not self._io().is_tls:
            raise TLSError("refusing to send the password over an unencrypted connection")
        self._caps_seen = False
        if p.sasl in sasl_oauth.MECHANISMS:
            self._authenticate_oauth()
        elif "AUTH=PLAIN" in self.capabilities:
            self._authenticate_plain()
        elif "LOGINDISABLED" in self.capabilities:
            raise AuthError(
                "server does not allow LOGIN on this connection (LOGINDISABLED) "
                "and offers no AUTH=PLAIN"
            )
        else:
            self.auth_method = "LOGIN"
            self._login_command(b"LOGIN", astring(p.username), astring(p.password))
        if not self._caps_seen:
            # Servers advertise more after login (UIDPLUS, for one).
            self.capabilities = set()
            self._capability()

    def _authenticate_plain(self) -> None:
        # SASL PLAIN carries any UTF-8 without quoting rules (RFC 4616).
        p = self.params
        token = base64.b64encode(b"\0" + p.username.encode() + b"\0" + p.password.encode())
        self.auth_method = "AUTHENTICATE PLAIN"
        if "SASL-IR" in self.capabilities:
            return self._login_command(b"AUTHENTICATE", b"PLAIN", token)
        answers = iter([token])
        # "*" cancels an unexpected second challenge instead of guessing.
        self._login_command(b"AUTHENTICATE", b"PLAIN", respond=lambda text: next(answers, b"*"))

    def _authenticate_oauth(self) -> None:
        p = self.params
        if "\x01" in p.username:
            raise AuthError("the username contains a control character")
        if not p.bearer:
            raise AuthError("no OAuth2 access token for this account: sign-in expired: reconnect")
        name = sasl_oauth.MECHANISMS[p.sasl].encode()
        self.auth_method = f"AUTHENTICATE {name.decode()}"
        response = sasl_oauth.initial_response(p.sasl, p.username, p.bearer, p.host, p.port)
        challenges: list[str] = []
        sent = [] if "SASL-IR" in self.capabilities else [response]

        def respond(challenge: bytes) -> bytes:
            # A challenge after the token is the server's error report
            # (RFC 7628 section 3.2.2): answer so it can finish with NO.
            if sent:
                return sent.pop()
            challenges.append(sasl_oauth.challenge_text(challenge))
            return sasl_oauth.failure_reply(p.sasl)

        args = (b"AUTHENTICATE", name, response) if not sent else (b"AUTHENTICATE", name)
        try:
            self._command(*args, respond=respond)
        except _Refused as exc:
            detail = "; ".join(redact(printable(c.encode(), 200), p.bearer) for c in challenges)
            detail = f"{exc.text}; {detail}" if detail else exc.text
            raise SignInRefused(f"sign-in refused by server: reconnect ({detail})")

    def _login_command(self, *args: bytes, respond=None) -> None:
        try:
            self._command(*args, respond=respond)
        except _Refused as exc:
            raise AuthError(f"login refused by server: {exc.text}")

    # -- protocol plumbing --------------------------------------------------

    def _io(self) -> LineStream:
        if self._stream is None or self._stream.closed:
            raise ProtocolError("not connected to the server")
        return self._stream

    def _command(
        self,
        *args: bytes,
        on_data: Callable[[Response], None] | None = None,
        sink_for=None,
        respond: Callable[[bytes], bytes] | None = None,
    ) -> Response:
        """Run one command to its tagged OK; raise _Refused on NO/BAD.

        Any other failure leaves the conversation at an unknown point, so
        the session is closed.
        """
        self._io()
        tag = b"A%03d" % next(self._tags)
        try:
            done = exchange(
                self._reader,
                tag,
                args,
                Budget(self.max_listing),
                lambda response: self._untagged(response, on_data),
                sink_for,
                respond,
            )
        except BaseException as exc:
            raise self._broken(exc)
        self._note_code(done)
        if done.name != "OK":
            raise _Refused(done, self._text(done))
        return done

    def _broken(self, exc: BaseException) -> BaseException:
        """The conversation failed at an unknown point: close, and say why."""
        self.close()
        if isinstance(exc, ConnectionClosed) and self._bye:
            return ConnectionClosed(f"server closed the connection: {self._bye}")
        if isinstance(exc, MalformedResponse):  # quotes the server, which may echo us
            error = ProtocolError(redact(str(exc), self.params.password))
            error.__suppress_context__ = True  # as `raise ... from None`
            return error
        return exc

    def _untagged(self, response: Response, on_data) -> None:
        # Servers may send these at any moment (RFC 3501 §7), so they are
        # handled here for every command rather than by each caller.
        name = response.name
        if name in STATUS:
            self._note_code(response)
            if name == "BYE":
                self._bye = self._text(response)
            return
        if name == "CAPABILITY":
            self._set_capabilities(b" ".join(t for t in response.data if isinstance(t, bytes)))
        elif name == "EXISTS":
            self._exists = response.number
        elif name == "EXPUNGE":
            self._exists = max(0, self._exists - 1)
        if on_data is not None:
            on_data(response)

    def _note_code(self, response: Response) -> None:
        if response.code == "CAPABILITY":
            self._set_capabilities(response.code_args)
        elif response.code == "UIDVALIDITY":
            self._select_uidvalidity = number(response.code_args.strip())
        elif response.code == "ALERT":
            alert = "server alert: " + redact(printable(response.text), self.params.password)
            log.warning("%s: %s", self.params.host, alert)
            if alert not in self.warnings:
                self.warnings.append(alert)

    def _set_capabilities(self, raw: bytes) -> None:
        self.capabilities = {word.upper() for word in raw.decode("latin-1").split()}
        self._caps_seen = True

    def _text(self, response: Response) -> str:
        """Server text for an error message, with the password masked if echoed."""
        text = printable(response.text)
        if response.code:
            text = f"[{printable(response.code, 40)}] {text}".rstrip()
        return redact(redact(text, self.params.password), self.params.bearer)
