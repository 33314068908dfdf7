"""Delivery over LMTP (RFC 2033), e.g. into Dovecot, over TCP or a UNIX socket.

One transaction carries every recipient; after the final "." the server
answers once per accepted recipient, in RCPT order, so each recipient's
outcome is exactly what the server said about that recipient. LMTP is a
local protocol (a socket next to the mail store), so there is no TLS or AUTH.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from popadmin.net.sockets import open_socket
from popadmin.net.stream import LineStream
from popadmin.net.text import printable

from .base import Site
from .session import REPLY_LINE, Conversation, SessionBackend, SessionFailed, open_unix_socket


@dataclass(frozen=True)
class LmtpSettings:
    host: str = ""
    port: int = 24
    socket_path: str = ""  # when set, used instead of host and port
    timeout: float = 60.0  # connect, and each wait for a reply
    helo_name: str = field(default_factory=socket.gethostname)
    local_part_only: bool = False  # RCPT TO:<alice>, e.g. Dovecot with bare user names


class LmtpBackend(SessionBackend):
    name = "lmtp"
    label = "LMTP (RFC 2033) to a mail server"
    reply_per_recipient = True

    @classmethod
    def from_target(cls, target, site: Site) -> LmtpBackend:
        return cls(LmtpSettings(
            host=target.host, port=target.port or 24, socket_path=target.socket_path,
            timeout=float(target.timeout_seconds),
            local_part_only=target.recipient_form == "localpart",
        ))

    @classmethod
    def target_problems(cls, target) -> dict[str, str]:
        if not (target.host or target.socket_path):
            return {"__all__": "LMTP needs a host or a UNIX socket path."}
        return {}

    def __init__(self, settings: LmtpSettings):
        self.settings = settings
        if settings.socket_path:
            self.where = f"LMTP server {printable(settings.socket_path, 200)}"
        else:
            self.where = f"LMTP server {printable(settings.host, 100)}:{settings.port}"

    def connect(self) -> Conversation:
        s = self.settings
        if s.socket_path:
            sock = open_unix_socket(s.socket_path, s.timeout)
        elif s.host:
            sock = open_socket(s.host, s.port, s.timeout)
        else:
            raise SessionFailed("no LMTP host or socket path is configured")
        return Conversation(LineStream(sock, s.timeout, REPLY_LINE))

    def greet(self, conv: Conversation) -> None:
        reply = conv.read_reply()
        if reply.code != 220:
            raise SessionFailed(f"server refused the connection: {reply}")
        reply = conv.hello(b"LHLO", self.settings.helo_name)
        if reply.code != 250:
            raise SessionFailed(f"LHLO refused: {reply}")
