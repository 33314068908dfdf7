"""Holding one IMAP folder open read-only and waiting for new mail (RFC 2177 IDLE).

The sign-in is the fetching client's own (IMAPSession.connect: the same TLS
verification, STARTTLS rules, login methods, OAuth2 and network-reach
check), run in a thread. The folder is opened with EXAMINE, so nothing the
watcher does can take, flag or delete mail. Then the socket is handed to
asyncio: a thousand idle connections cost a file descriptor and a buffer
each, not a thread.

An account that fetches several folders is watched on one connection when
the server offers NOTIFY (RFC 5465): no folder is opened at all, and the
server reports a STATUS line for each folder whose messages change. Else each
folder has a connection of its own.

Where the server offers no IDLE, the connection is kept and asked with NOOP
every `noop_seconds` instead. Everything the server says is bounded as in
the fetching client: a line over MAX_LINE closes the connection.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from dataclasses import dataclass

from popadmin.net.errors import ProtocolError
from popadmin.net.stream import MAX_LINE, ConnectionClosed, StreamTimeout

from .imap import IMAPSession
from .imap_notify import NoNotify, status_of, wire_name
from .imap_parse import mailbox, number
from .imap_wire import _Refused

_UNTAGGED_COUNT = re.compile(rb"^\* (\d+) (EXISTS|EXPUNGE)\b", re.I)
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
# Beyond RFC 2177's 29 minutes a server may drop an IDLE; a quiet server is
# one that has not even answered DONE in this long.
ANSWER_SECONDS = 60.0
class WatchSession(IMAPSession):
    """IMAPSession that also keeps the UIDNEXT an EXAMINE reports."""

    def _note_code(self, response) -> None:
        if response.code == "UIDNEXT":
            self.uidnext = number(response.code_args.strip())
        super()._note_code(response)

    def examine(self, folder: str) -> tuple[int, int | None, int | None]:
        """Open `folder` read-only: (messages, UIDVALIDITY, UIDNEXT)."""
        self.uidnext = None
        try:
            exists = self._select(folder, readonly=True)
        except _Refused as exc:  # pragma: no cover - _select turns these into ProtocolError
            raise ProtocolError(f"server refused to open folder '{folder}': {exc.text}")
        return exists, self.uidvalidity.get(folder), self.uidnext

    def notify(self, folders: list[str]) -> dict[str, tuple[int | None, int | None]]:
        """Ask for a STATUS line whenever a message comes into (or leaves) any of `folders`,
        without opening any: {folder: (UIDVALIDITY, UIDNEXT)} as the server reports them now."""
        names = {wire_name(folder): folder for folder in folders}
        marks: dict[str, tuple[int | None, int | None]] = {}

        def on_data(response) -> None:
            parsed = status_of(response.line) if response.name == "STATUS" else None
            if parsed and parsed[0] in names:
                items = parsed[1]
                marks[names[parsed[0]]] = (items.get("UIDVALIDITY"), items.get("UIDNEXT"))

        listed = b" ".join(mailbox(folder) for folder in folders)
        try:
            self._command(b"NOTIFY", b"SET STATUS (mailboxes (" + listed
                          + b") (MessageNew MessageExpunge))", on_data=on_data)
        except _Refused as exc:
            raise NoNotify(f"server refused NOTIFY: {exc.text}")
        # RFC 5465 has the server send the STATUS of each folder now. One it leaves out
        # (missing, or a name it does not match: Dovecot 2.3 with non-ASCII names) would
        # never be reported, so such an account is watched a connection per folder.
        missing = [folder for folder in folders if folder not in marks]
        if missing:
            raise NoNotify("server gave no status of " + ", ".join(missing) + " for NOTIFY")
        return marks

    def detach(self) -> tuple[socket.socket, bytes, int]:
        """Hand the open socket, what was read ahead and the next tag number to the caller."""
        stream = self._io()
        sock, stream._sock = stream._sock, None
        left = bytes(stream._buf[stream._pos:])
        stream.close()
        self._stream = None
        return sock, left, next(self._tags)


@dataclass
class Opened:
    """A signed-in connection with its folder examined, ready to be held."""

    sock: socket.socket
    buffered: bytes
    tag: int
    exists: int
    uidvalidity: int | None
    uidnext: int | None
    idle: bool
    # Whether the server offers NOTIFY (RFC 5465) after login.
    notify_offered: bool = False
    # On a NOTIFY connection (no folder opened): {folder: (UIDVALIDITY, UIDNEXT)}.
    marks: dict | None = None


def open_watch(params, folder: str) -> Opened:
    """Blocking: sign in as a fetch would, EXAMINE the folder, detach the socket."""
    session = WatchSession(params)
    session.connect()
    try:
        exists, uidvalidity, uidnext = session.examine(folder)
        idle = "IDLE" in session.capabilities
        offered = "NOTIFY" in session.capabilities
        sock, left, tag = session.detach()
    except BaseException:
        session.close()
        raise
    return Opened(sock, left, tag, exists, uidvalidity, uidnext, idle, offered)


def open_notify(params, folders: list[str]) -> Opened:
    """Blocking: sign in as a fetch would and ask for NOTIFY on `folders`, opening none of
    them; NoNotify if the server does not offer it."""
    session = WatchSession(params)
    session.connect()
    try:
        if "NOTIFY" not in session.capabilities:
            raise NoNotify("server does not offer NOTIFY")
        marks = session.notify(folders)
        idle = "IDLE" in session.capabilities
        sock, left, tag = session.detach()
    except BaseException:
        session.close()
        raise
    return Opened(sock, left, tag, 0, None, None, idle, True, marks)


class AsyncLines:
    """Lines from a (TLS or plain) socket on the event loop, each bounded by MAX_LINE."""

    def __init__(self, sock: socket.socket, buffered: bytes, host: str):
        self.sock = sock
        self.host = host
        self.buf = bytearray(buffered)
        self.eof: ProtocolError | None = None
        self.loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future | None = None
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._readable)
        self._fd = sock.fileno()

    def _readable(self) -> None:
        while self.eof is None:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except OSError as exc:
                self.eof = ConnectionClosed(f"connection to {self.host} lost: "
                                            f"{exc.strerror or exc}")
                break
            if not data:
                self.eof = ConnectionClosed(f"{self.host} closed the idle connection")
                break
            self.buf += data
            if len(self.buf) > 2 * MAX_LINE and b"\n" not in self.buf[-2 * MAX_LINE:]:
                self.eof = ProtocolError(f"{self.host} sent an overlong line")
        if self.eof is not None:
            self.loop.remove_reader(self._fd)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def readline(self, deadline: float) -> bytes:
        """The next line (CRLF stripped) by monotonic `deadline`; literals are skipped."""
        while True:
            end = self.buf.find(b"\n")
            if end > MAX_LINE:
                raise ProtocolError(f"{self.host} sent an overlong line")
            if end >= 0:
                line = bytes(self.buf[:end]).rstrip(b"\r")
                del self.buf[: end + 1]
                literal = _LITERAL.search(line)
                if literal is not None:
                    await self._skip(int(literal.group(1)), deadline)
                return line
            if self.eof is not None:
                raise self.eof
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamTimeout(f"{self.host} did not answer in time")
            self._waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(self._waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiter = None

    async def _skip(self, n: int, deadline: float) -> None:
        # A literal inside an unsolicited response (a FETCH of flags, say): not needed.
        while len(self.buf) < n:
            if self.eof is not None:
                raise self.eof
            if n > MAX_LINE * 16:
                raise ProtocolError(f"{self.host} sent an oversized unsolicited response")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamTimeout(f"{self.host} did not answer in time")
            self._waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(self._waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiter = None
        del self.buf[:n]

    def send(self, data: bytes) -> None:
        # Commands are a few bytes; a short blocking write never stalls the loop.
        try:
            self.sock.settimeout(10)
            self.sock.sendall(data)
        except OSError as exc:
            raise ConnectionClosed(f"connection to {self.host} lost: {exc}")
        finally:
            if self.eof is None:
                try:
                    self.sock.setblocking(False)
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.loop.remove_reader(self._fd)
        except (ValueError, OSError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class IdleConnection:
    """The asyncio side of one watched folder: IDLE (or NOOP) until told to stop.

    `on_new_mail()` is called when the message count grows. `hold` returns
    normally when `until` (monotonic) is reached, e.g. for an OAuth2 token
    about to expire; it raises ProtocolError when the connection fails.
    """

    def __init__(self, opened: Opened, host: str, *, reidle: float, noop: float,
                 on_new_mail, on_idle=None):
        self.lines = AsyncLines(opened.sock, opened.buffered, host)
        self.host = host
        self.exists = opened.exists
        self.idle = opened.idle
        self.reidle = reidle
        self.noop = noop
        self.on_new_mail = on_new_mail
        self.on_idle = on_idle
        self._tag = opened.tag
        # NOTIFY: the UIDNEXT of each folder by its name on the wire; a STATUS line
        # with a higher one is new mail (one about an expunge leaves it as it is).
        self.uidnext = ({wire_name(f): n for f, (_, n) in opened.marks.items()}
                        if opened.marks is not None else None)

    def _next_tag(self) -> bytes:
        self._tag += 1
        return b"W%04d" % self._tag

    def _untagged(self, line: bytes) -> None:
        if line.startswith(b"* BYE"):
            raise ConnectionClosed(
                f"{self.host} closed the idle connection: "
                f"{line[5:].strip().decode('latin-1', 'replace')[:200]}")
        if self.uidnext is not None and line[:9].upper() == b"* STATUS ":
            self._status(line)
            return
        found = _UNTAGGED_COUNT.match(line)
        if not found:
            return
        count, kind = int(found.group(1)), found.group(2).upper()
        if kind == b"EXISTS":
            grew = count > self.exists
            self.exists = count
            if grew:
                self.on_new_mail()
        else:
            self.exists = max(0, self.exists - 1)

    def _status(self, line: bytes) -> None:
        parsed = status_of(line)
        if parsed is None:
            self.on_new_mail()  # unreadable (a literal name): fetch rather than miss mail
            return
        name, items = parsed
        known, now = self.uidnext.get(name), items.get("UIDNEXT")
        if now is not None:
            self.uidnext[name] = now
        if now is None or known is None or now > known:
            self.on_new_mail()

    async def _until_tagged(self, tag: bytes, deadline: float) -> bytes:
        while True:
            line = await self.lines.readline(deadline)
            if line.startswith(tag + b" "):
                status = line[len(tag) + 1:].split(b" ", 1)[0].upper()
                if status != b"OK":
                    raise ProtocolError(f"{self.host} refused: "
                                        f"{line.decode('latin-1', 'replace')[:200]}")
                return line
            self._untagged(line)

    async def hold(self, until: float | None = None) -> None:
        while until is None or time.monotonic() < until:
            if self.idle:
                await self._one_idle(until)
            else:
                await self._one_noop(until)

    async def _one_idle(self, until: float | None) -> None:
        tag = self._next_tag()
        self.lines.send(tag + b" IDLE\r\n")
        deadline = time.monotonic() + ANSWER_SECONDS
        while True:
            line = await self.lines.readline(deadline)
            if line.startswith(b"+"):
                break
            if line.startswith(tag + b" "):
                raise ProtocolError(f"{self.host} refused IDLE: "
                                    f"{line.decode('latin-1', 'replace')[:200]}")
            self._untagged(line)
        if self.on_idle:
            self.on_idle()
        stop = time.monotonic() + self.reidle
        if until is not None:
            stop = min(stop, until)
        try:
            while True:
                line = await self.lines.readline(stop)
                self._untagged(line)
        except StreamTimeout:
            if self.lines.eof is not None:
                raise self.lines.eof
        # Time to renew the IDLE (or to stop): DONE ends it with a tagged OK.
        self.lines.send(b"DONE\r\n")
        await self._until_tagged(tag, time.monotonic() + ANSWER_SECONDS)

    async def _one_noop(self, until: float | None) -> None:
        tag = self._next_tag()
        self.lines.send(tag + b" NOOP\r\n")
        await self._until_tagged(tag, time.monotonic() + ANSWER_SECONDS)
        if self.on_idle:
            self.on_idle()
        wait = self.noop if until is None else max(0.0, min(self.noop, until - time.monotonic()))
        stop = time.monotonic() + wait
        try:
            # Anything the server says meanwhile (some send EXISTS unasked) counts too.
            while True:
                line = await self.lines.readline(stop)
                self._untagged(line)
        except StreamTimeout:
            if self.lines.eof is not None:
                raise self.lines.eof

    async def logout(self) -> None:
        try:
            self.lines.send(self._next_tag() + b" LOGOUT\r\n")
        except ProtocolError:
            pass
        self.lines.close()
