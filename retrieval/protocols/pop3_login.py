"""POP3 login under POP3Session: USER/PASS, APOP, SASL PLAIN and OAuth2, and
every command kept within the octets RFC 2449 allows.

Split from pop3.py so each file holds one concern: this one the login and the
command-length rules, pop3.py the mailbox (listing, fetching, deleting).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re

from popadmin.net import sasl as sasl_oauth
from popadmin.net.errors import ProtocolError
from popadmin.net.text import printable

from .base import AuthError, SignInRefused

log = logging.getLogger(__name__)

APOP_TIMESTAMP = re.compile(rb"<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>")

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



class POP3Login:
    """USER/PASS, APOP, SASL; POP3Session supplies the stream, the params and _command."""

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
        raise SignInRefused(
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
            raise SignInRefused(f"sign-in refused by server: reconnect ({self._text(answer[4:])})")
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
