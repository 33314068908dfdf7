"""Delivery through an SMTP relay (a smarthost such as Postfix or Exchange).

The relay's one reply after the final "." covers every accepted recipient
(RFC 5321 4.1.1.4): 2xx means it took responsibility for all of them.

Security: "tls" speaks TLS from the first byte (port 465), "starttls"
requires STARTTLS and fails the session if the server does not offer it
(never falling back to clear text), "none" is plain. Certificates are
verified by default. The password is only ever sent over TLS and never
appears in an outcome detail, even when a server echoes what it was sent.
"""

from __future__ import annotations

import base64
import socket
from dataclasses import dataclass, field

from popadmin.net.sockets import open_socket
from popadmin.net.stream import LineStream
from popadmin.net.text import printable, redact
from popadmin.net.tls import make_context, wrap_socket

from .base import Site
from .session import REPLY_LINE, Conversation, SessionBackend, SessionFailed, hello_name

SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"  # "starttls" | "tls" | "none"
    username: str = ""  # AUTH only when set
    password: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_file: str | None = None  # extra trusted CAs, on top of the system store
    timeout: float = 60.0  # connect, TLS handshake, and each wait for a reply
    helo_name: str = field(default_factory=socket.gethostname)
    local_part_only: bool = False  # RCPT TO:<alice> instead of the full address


class SmtpBackend(SessionBackend):
    name = "smtp"
    label = "SMTP relay (smarthost)"
    reply_per_recipient = False

    @classmethod
    def from_target(cls, target, site: Site) -> SmtpBackend:
        return cls(SmtpSettings(
            host=target.host, port=target.port or 587, security=target.security,
            username=target.username, password=target.decrypted_password(),
            verify_tls=target.verify_tls, ca_file=site.ca_file,
            timeout=float(target.timeout_seconds),
            local_part_only=target.recipient_form == "localpart",
        ))

    @classmethod
    def target_problems(cls, target) -> dict[str, str]:
        return {} if target.host else {"host": "An SMTP relay needs a host."}

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.where = f"SMTP relay {printable(settings.host, 100)}:{settings.port}"

    def connect(self) -> Conversation:
        s = self.settings
        if s.security not in SECURITY:
            raise SessionFailed(f"unknown security setting {printable(s.security, 20)!r}")
        if not s.host:
            raise SessionFailed("no SMTP relay host is configured")
        # The settings are TLSOptions (popadmin.net.tls); the context is built
        # before connecting so a bad CA file fails without opening a connection.
        context = make_context(s) if s.security != "none" else None
        sock = open_socket(s.host, s.port, s.timeout)
        if s.security == "tls":
            sock = wrap_socket(sock, context, s.host)
        conv = Conversation(LineStream(sock, s.timeout, REPLY_LINE))
        conv.tls_context = context
        return conv

    def greet(self, conv: Conversation) -> None:
        s = self.settings
        reply = conv.read_reply()
        if reply.code != 220:
            raise SessionFailed(f"server refused the connection: {reply}")
        reply = conv.hello(b"EHLO", s.helo_name)
        if reply.code != 250:
            if s.security == "starttls" or s.username:
                raise SessionFailed(f"EHLO refused: {reply}")
            # A very old relay without ESMTP still works when nothing more is needed.
            reply = conv.command(b"HELO " + hello_name(s.helo_name))
            if reply.code != 250:
                raise SessionFailed(f"HELO refused: {reply}")
        if s.security == "starttls":
            if "STARTTLS" not in conv.extensions:
                raise SessionFailed(
                    "the server does not offer STARTTLS, which the settings require; "
                    "nothing was sent (check the port, or a middlebox stripping STARTTLS)"
                )
            reply = conv.command(b"STARTTLS")
            if reply.code != 220:
                raise SessionFailed(f"STARTTLS refused: {reply}")
            conv.stream.start_tls(conv.tls_context, s.host)
            # Capabilities seen in clear may have been forged (RFC 3207 4.2).
            reply = conv.hello(b"EHLO", s.helo_name)
            if reply.code != 250:
                raise SessionFailed(f"EHLO after STARTTLS refused: {reply}")
        if s.username:
            self._authenticate(conv)

    def _authenticate(self, conv: Conversation) -> None:
        s = self.settings
        if not conv.stream.is_tls:
            raise SessionFailed(
                "refusing to send the relay password over an unencrypted connection; "
                "set security to starttls or tls"
            )
        offered = set()
        for keyword, params in conv.extensions.items():
            # "AUTH=LOGIN PLAIN" is the pre-RFC 4954 spelling some servers still send.
            if keyword == "AUTH" or keyword.startswith("AUTH="):
                offered.update((keyword[5:] + " " + params).upper().split())
        user, password = s.username.encode("utf-8"), s.password.encode("utf-8")
        if "PLAIN" in offered:
            token = base64.b64encode(b"\0" + user + b"\0" + password)
            reply = conv.command(b"AUTH PLAIN " + token)
        elif "LOGIN" in offered:
            reply = conv.command(b"AUTH LOGIN")
            if reply.code == 334:
                reply = conv.command(base64.b64encode(user))
            if reply.code == 334:
                reply = conv.command(base64.b64encode(password))
        else:
            names = " ".join(sorted(offered)) or "none"
            raise SessionFailed(
                f"the server offers no login method we support (PLAIN, LOGIN); it offers: {names}"
            )
        if reply.code == 334:
            reply = conv.command(b"*")  # an unexpected challenge: cancel (RFC 4954)
        if reply.code != 235:
            # Even a 5xx stays temporary: wrong relay credentials are our
            # configuration, not the message's fault, so the mail must wait.
            raise SessionFailed(
                f"login as {printable(s.username, 100)!r} failed: {reply} "
                "(check the relay username and password)"
            )

    def scrub(self, detail: str) -> str:
        s = self.settings
        if not s.password:
            return detail
        user, password = s.username.encode("utf-8"), s.password.encode("utf-8")
        forms = (
            s.password,
            base64.b64encode(password).decode(),
            base64.b64encode(b"\0" + user + b"\0" + password).decode(),
        )
        for form in forms:
            detail = redact(detail, form)
        return detail
