"""A real SMTP server (aiosmtpd) on 127.0.0.1 in its own thread, for the SMTP backend tests.

    with SmtpServer(starttls=server_ctx, users={"relay": "pw"}) as server:
        ...  # SmtpSettings(host="127.0.0.1", port=server.port, ...)
    server.received  # one Received per accepted DATA
    server.commands  # every command verb the server was sent, in order

Replies can be scripted per test: `rcpt_replies[address]` refuses one
recipient, `data_reply` answers the final "." instead of 250.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    mail_options: list[str]
    rcpt_tos: list[str]
    content: bytes  # as the server has it: CRLF endings, dot-stuffing undone
    tls: bool
    authenticated: bool


class _RecordingSMTP(SMTP):
    """aiosmtpd's server, noting each command verb before running it."""

    def __init__(self, handler, commands: list[str], **kwargs):
        super().__init__(handler, **kwargs)
        for verb, method in list(self._smtp_methods.items()):
            self._smtp_methods[verb] = self._recorded(verb, method, commands)

    @staticmethod
    def _recorded(verb, method, commands):
        async def run(arg):
            commands.append(verb)
            return await method(arg)

        return run


class SmtpServer:
    def __init__(
        self,
        starttls: ssl.SSLContext | None = None,  # offer STARTTLS with this server context
        implicit_tls: ssl.SSLContext | None = None,  # TLS from the first byte (port 465)
        users: dict[str, str] | None = None,  # offer AUTH (after TLS only) for these
        size_limit: int = 10 * 1024 * 1024,
        mechanisms_excluded: tuple[str, ...] = (),  # e.g. ("PLAIN",) to force LOGIN
    ):
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.users = users
        self.size_limit = size_limit
        self.mechanisms_excluded = mechanisms_excluded
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply = "250 2.0.0 Ok: queued"
        self.received: list[Received] = []
        self.commands: list[str] = []
        self.logins: list[tuple[str, bool]] = []  # (username, accepted); never passwords
        self.loop = asyncio.new_event_loop()
        self._server = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = None

    def __enter__(self) -> SmtpServer:
        self._server = self.loop.run_until_complete(
            self.loop.create_server(self._factory, host="127.0.0.1", port=0, ssl=self.implicit_tls)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        async def close():
            self._server.close()
            if hasattr(self._server, "close_clients"):  # Python 3.13+
                self._server.close_clients()
            await asyncio.wait_for(self._server.wait_closed(), 5)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def _factory(self) -> SMTP:
        return _RecordingSMTP(
            self,
            self.commands,
            loop=self.loop,
            hostname="smtp.test",
            tls_context=self.starttls,
            data_size_limit=self.size_limit,
            enable_SMTPUTF8=True,
            auth_require_tls=True,
            auth_exclude_mechanism=self.mechanisms_excluded,
            authenticator=self._authenticate if self.users is not None else None,
            timeout=30,
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users is not None and self.users.get(login) == password
        self.logins.append((login, ok))
        # handled=False: let aiosmtpd send its 535 (True means "already answered").
        return AuthResult(success=ok, handled=False)

    # -- handler hooks (called by aiosmtpd) ----------------------------------

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply.startswith("250"):
            self.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    mail_options=list(envelope.mail_options),
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=envelope.original_content,
                    tls=server.transport.get_extra_info("ssl_object") is not None,
                    authenticated=bool(session.authenticated),
                )
            )
        return self.data_reply
