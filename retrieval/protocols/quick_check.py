"""Whether a mailbox has anything for us, asked cheaply and many at a time (asyncio).

A check logs in, asks, and logs out; it never fetches, flags or deletes.
POP3: STAT and UIDL, for the caller to compare with the seen-state. IMAP:
STATUS (UIDNEXT UIDVALIDITY MESSAGES) of each folder, for the caller to
compare with what the last check stored. Where the server takes it, the
whole conversation after the greeting goes in one write (check_pipelining).

It covers the common sign-ins only: POP3 USER/PASS and IMAP LOGIN or
AUTHENTICATE PLAIN over TLS (or STARTTLS), the same TLS context and
verification as a fetch (popadmin.net.tls). Anything else (OAuth2, APOP on
an unencrypted connection, credentials that need SASL or literals, a PREAUTH
greeting, an answer it does not follow) is `Outcome.unsupported`, and every
failure is `Outcome.error`: the caller hands such an account to the full
fetch session, which signs in as it always does and reports a failure in its
own words. So a check never judges an account broken by itself.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from dataclasses import dataclass, field

from popadmin.net import tls, tls_sessions
from popadmin.net.errors import ProtocolError

from . import check_pipelining
from .base import ConnectionParams
from .imap_parse import mailbox
from .pop3_login import APOP_TIMESTAMP, user_pass_too_long

# Longest line read (a UIDL line is at most ~80 octets; an IMAP capability
# line a few hundred): a longer one ends the check, and the fetch session,
# with its own limits, takes over.
MAX_LINE = 16 * 1024
# Messages at most in a UIDL answer read by a check; more goes to a fetch.
MAX_UIDL = 100_000
# The longest one check may take, whatever the account's timeout.
CHECK_DEADLINE = 30.0
_STATUS = re.compile(rb"\(([^()]*)\)\s*$")


class _Unsupported(Exception):
    """This account needs the full session's sign-in."""


class _Refused(ProtocolError):
    """The server answered a command with -ERR, NO or BAD."""


@dataclass
class Outcome:
    """What one check found. `uids` (POP3) is None when STAT said 0 messages."""

    error: str = ""
    unsupported: str = ""
    count: int = 0
    uids: list[str] | None = None
    # IMAP: folder -> (UIDVALIDITY, UIDNEXT, MESSAGES)
    folders: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # "full", "resumed", or "" without TLS.
    tls: str = ""

    @property
    def answered(self) -> bool:
        return not self.error and not self.unsupported


def supported(protocol: str, params: ConnectionParams) -> str:
    """Why a check cannot sign in to this account ("" if it can)."""
    if params.sasl != "password":
        return "OAuth2 sign-in"
    if params.security not in ("tls", "starttls", "none"):
        return "unknown security setting"
    user, password = params.username, params.password
    if any(c in s for s in (user, password) for c in "\r\n\0"):
        return "credentials with a line break"
    if protocol == "pop3":
        if not (user.isascii() and password.isascii()) or user_pass_too_long(user, password):
            return "credentials USER/PASS cannot carry"
    elif protocol == "imap":
        if not (user.isascii() and password.isascii()):
            return "8-bit credentials"
    else:
        return "unknown protocol"
    return ""


async def check(protocol: str, params: ConnectionParams, targets: list[str]) -> Outcome:
    """Check one account; `targets`: the addresses to connect to (the reach guard's
    answer, or the host itself). Never raises for the server's sake."""
    outcome = Outcome()
    why = supported(protocol, params)
    if why:
        outcome.unsupported = why
        return outcome
    conn = _Connection(params, outcome)
    try:
        # A deadline, not wait_for: no task of its own per check. Bounded apart
        # from the account's timeout: the batch's bookkeeping waits for its
        # slowest check, and a slow server is the fetch's to wait for anyway.
        async with asyncio.timeout(min(params.timeout * 2, CHECK_DEADLINE)):
            await conn.run(protocol, targets)
    except _Unsupported as exc:
        outcome.unsupported = str(exc)
    except TimeoutError:
        outcome.error = f"timed out checking {params.host}"
    except (ProtocolError, OSError, ValueError, ssl.SSLError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError) as exc:
        outcome.error = str(exc) or type(exc).__name__
    finally:
        conn.close()
    if outcome.error and conn.pipelined and not conn.sign_in_refused:
        # Perhaps the server does not take pipelined commands after all.
        check_pipelining.failed(conn.pipelined)
    return outcome


class _Connection:
    def __init__(self, params: ConnectionParams, outcome: Outcome):
        self.p = params
        self.outcome = outcome
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.resume_key = None
        self.tag = 0
        # The server (check_pipelining.key) when the conversation was sent in one write.
        self.pipelined: tuple | None = None
        self.sign_in_refused = False

    async def run(self, protocol: str, targets: list[str]):
        await self._open(targets)
        if protocol == "pop3":
            await self._pop3()
        else:
            await self._imap()
        self._remember()

    # -- connection --------------------------------------------------------

    async def _open(self, targets: list[str]):
        p = self.p
        context = None
        if p.security == "tls":
            real = tls.make_context(p)
            context = tls_sessions.ResumingContext(real, p.host, p.port)
            self.resume_key = context.key
        failure: Exception | None = None
        for target in targets:
            try:
                async with asyncio.timeout(p.timeout):
                    self.reader, self.writer = await asyncio.open_connection(
                        target, p.port, ssl=context, server_hostname=p.host if context else None,
                        limit=MAX_LINE)
                break
            except (OSError, TimeoutError) as exc:
                failure = exc
        else:
            if isinstance(failure, TimeoutError):
                raise ProtocolError(f"timed out connecting to {p.host}:{p.port}")
            raise ProtocolError(f"cannot connect to {p.host}:{p.port}: {failure}")
        if context is not None:
            self._note_tls()

    def _note_tls(self):
        sslobj = self.writer.get_extra_info("ssl_object")
        if sslobj is not None:
            self.outcome.tls = "resumed" if sslobj.session_reused else "full"

    async def _start_tls(self):
        # asyncio's STARTTLS takes a real context only: no resumption here.
        await self.writer.start_tls(tls.make_context(self.p), server_hostname=self.p.host)
        self._note_tls()

    def _remember(self):
        # A resumed session is the one kept already; reading a session out of
        # OpenSSL costs about as much as the rest of a check.
        if self.resume_key is not None and self.writer is not None and self.outcome.tls == "full":
            tls_sessions.remember(self.resume_key, self.writer.get_extra_info("ssl_object"))

    def close(self):
        if self.writer is not None:
            self.writer.transport.abort()
            self.writer = None

    async def _line(self) -> bytes:
        # Bounded by the whole check's deadline (check()), not a timer per line.
        line = await self.reader.readline()
        if not line:
            raise ProtocolError("connection closed by server")
        if not line.endswith(b"\n"):
            raise ProtocolError("line too long")
        return line.rstrip(b"\r\n")

    async def _send(self, data: bytes):
        self.writer.write(data + b"\r\n")
        await self.writer.drain()

    # -- POP3 --------------------------------------------------------------

    async def _pop3_ok(self, verb: bytes) -> bytes:
        """The next answer, which must be +OK (the answer to `verb`)."""
        line = await self._line()
        if not line.startswith(b"+OK"):
            self.sign_in_refused = verb in (b"USER", b"PASS")
            raise _Refused(f"{verb.decode()} refused")
        return line

    async def _pop3_command(self, command: bytes) -> bytes:
        await self._send(command)
        return await self._pop3_ok(command.split()[0])

    async def _pop3(self):
        greeting = await self._line()
        if not greeting.startswith(b"+OK"):
            raise ProtocolError("unexpected greeting")
        if self.p.security == "none" and APOP_TIMESTAMP.search(greeting):
            raise _Unsupported("APOP offered on an unencrypted connection")
        if self.p.security == "starttls":
            await self._pop3_command(b"STLS")
            await self._start_tls()
        server = check_pipelining.key("pop3", self.p.host, self.p.port, self.p.security)
        pipelines = check_pipelining.pop3_known(server)
        if pipelines is None:
            pipelines = await self._pop3_capa()
            check_pipelining.pop3_learn(server, pipelines)
        user, password = self.p.username.encode(), self.p.password.encode()
        if pipelines:
            # RFC 2449: every command in one write, the answers read in order.
            # UIDL goes too: on an empty mailbox its answer is two short lines,
            # cheaper than another round trip after STAT.
            self.pipelined = server
            self.writer.write(b"USER %s\r\nPASS %s\r\nSTAT\r\nUIDL\r\nQUIT\r\n"
                              % (user, password))
            await self.writer.drain()
            await self._pop3_ok(b"USER")
            await self._pop3_ok(b"PASS")
            self._pop3_stat(await self._pop3_ok(b"STAT"))
            await self._pop3_ok(b"UIDL")
            uids = await self._pop3_uidl()
            self.outcome.uids = uids if uids or self.outcome.count else None
        else:
            await self._pop3_command(b"USER " + user)
            await self._pop3_command(b"PASS " + password)
            self._pop3_stat(await self._pop3_command(b"STAT"))
            if self.outcome.count:
                await self._pop3_command(b"UIDL")
                self.outcome.uids = await self._pop3_uidl()
            await self._send(b"QUIT")
        await self._line()

    async def _pop3_capa(self) -> bool:
        """Whether CAPA announces PIPELINING (a server without CAPA does not)."""
        await self._send(b"CAPA")
        if not (await self._line()).startswith(b"+OK"):
            return False
        pipelining = False
        while (line := await self._line()) != b".":
            # Capability names are case-insensitive (RFC 2449 6).
            pipelining = pipelining or line.upper().split()[:1] == [b"PIPELINING"]
        return pipelining

    def _pop3_stat(self, line: bytes):
        stat = line.split()
        if len(stat) < 2 or not stat[1].isdigit():
            raise _Unsupported("STAT answer not understood")
        self.outcome.count = int(stat[1])
        if self.outcome.count > MAX_UIDL:
            raise _Unsupported("too many messages for a check")

    async def _pop3_uidl(self) -> list[str]:
        uids = []
        while (line := await self._line()) != b".":
            parts = line.split()
            if len(parts) != 2 or len(uids) >= MAX_UIDL:
                raise _Unsupported("UIDL answer not understood")
            uids.append(parts[1].decode("latin-1"))
        return uids

    # -- IMAP --------------------------------------------------------------

    async def _imap_command(self, *args: bytes) -> list[bytes]:
        """Untagged lines of the answer; raises unless the tagged answer is OK."""
        return await self._imap_answer((await self._imap_send(args))[0], args[0])

    async def _imap_send(self, *commands: tuple[bytes, ...]) -> list[bytes]:
        """Send these commands in one write (one TLS record); their tags."""
        tags, lines = [], []
        for args in commands:
            self.tag += 1
            tags.append(b"c%d" % self.tag)
            lines.append(b" ".join((tags[-1], *args)) + b"\r\n")
        self.writer.write(b"".join(lines))
        await self.writer.drain()
        return tags

    async def _imap_answer(self, tag: bytes, verb: bytes) -> list[bytes]:
        untagged = []
        while True:
            line = await self._line()
            if line.endswith(b"}"):
                raise _Unsupported("literal in an answer")
            if line.startswith(tag + b" "):
                if line[len(tag) + 1:][:2].upper() != b"OK":
                    self.sign_in_refused = verb in (b"LOGIN", b"AUTHENTICATE")
                    raise _Refused(f"{verb.decode()} refused")
                return untagged
            if line.startswith(b"+"):
                raise _Unsupported("unexpected continuation")
            untagged.append(line)

    async def _imap(self):
        greeting = await self._line()
        if not greeting.upper().startswith(b"* OK"):
            raise _Unsupported("greeting other than OK")
        if self.p.security == "starttls":
            await self._imap_command(b"STARTTLS")
            await self._start_tls()
            greeting = b""
        user, password = self.p.username.encode(), self.p.password.encode()
        if b"SASL-IR" in greeting.upper() and b"AUTH=PLAIN" in greeting.upper():
            login = (b"AUTHENTICATE", b"PLAIN", base64.b64encode(b"\0" + user + b"\0" + password))
        else:
            login = (b"LOGIN", _quoted(user), _quoted(password))
        # Every STATUS and the LOGOUT go in one write (RFC 3501 5.5: none
        # depends on another's answer), with the sign-in too unless this server
        # broke down on that; the answers are read in order.
        names = ["INBOX" if f.upper() == "INBOX" else f for f in self.p.folders]
        statuses = [(b"STATUS", mailbox(name), b"(UIDNEXT UIDVALIDITY MESSAGES)")
                    for name in names]
        server = check_pipelining.key("imap", self.p.host, self.p.port, self.p.security)
        if check_pipelining.imap_pipelines(server):
            self.pipelined = server
            signed_in, *tags, logout = await self._imap_send(login, *statuses, (b"LOGOUT",))
            await self._imap_answer(signed_in, login[0])
        else:
            await self._imap_command(*login)
            *tags, logout = await self._imap_send(*statuses, (b"LOGOUT",))
        for name, tag in zip(names, tags, strict=True):
            self.outcome.folders[name] = _status(await self._imap_answer(tag, b"STATUS"))
        self.outcome.count = sum(m for _v, _n, m in self.outcome.folders.values())
        await self._imap_answer(logout, b"LOGOUT")


def _quoted(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _status(lines: list[bytes]) -> tuple[int, int, int]:
    for line in lines:
        if line.upper().startswith(b"* STATUS ") and (m := _STATUS.search(line)):
            words = m.group(1).upper().split()
            values = dict(zip(words[::2], words[1::2], strict=False))
            try:
                return (int(values[b"UIDVALIDITY"]), int(values[b"UIDNEXT"]),
                        int(values[b"MESSAGES"]))
            except (KeyError, ValueError):
                break
    raise _Unsupported("STATUS answer without UIDNEXT, UIDVALIDITY and MESSAGES")
