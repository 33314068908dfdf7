"""A bounded line reader over a socket, shared by every protocol client.

Everything a server sends passes through here, so this is where hostile
input is contained: no line may exceed a limit, no read may wait longer
than the timeout, and a server may not drip bytes slowly enough to keep a
worker busy forever. Any failure closes the stream, because after a
partial read the protocol state can no longer be trusted.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import BinaryIO

from .errors import LimitExceeded, MessageTooLarge, ProtocolError, TLSError
from .text import printable
from .tls import wrap_socket

# One protocol line, for every protocol (RFC limits are far lower):
# invariant "Hostile input is contained".
MAX_LINE = 64 * 1024
CHUNK = 64 * 1024
# Below this average rate (after the first `timeout` seconds of a response)
# a server is treated as stalling; a 1 B/s drip would otherwise never time out.
MIN_RATE = 1024  # bytes per second


def _terminator(region: bytes):
    """(end of body, end of the "." line) in region, which starts a line; or None."""
    for marker in (b".\r\n", b".\n"):
        if region.startswith(marker):
            return (0, len(marker))
    best = None
    for marker in (b"\n.\r\n", b"\n.\n"):
        found = region.find(marker)
        if found >= 0 and (best is None or found + 1 < best[0]):
            best = (found + 1, found + len(marker))
    return best


class ConnectionClosed(ProtocolError):
    """The server closed the connection (or it was reset) mid-conversation."""


class StreamTimeout(ProtocolError):
    """The server did not answer, or answered too slowly, within the timeout."""


class LineStream:
    def __init__(self, sock: socket.socket, timeout: float, max_line: int = MAX_LINE):
        self._sock: socket.socket | None = sock
        self.timeout = timeout
        self.max_line = max_line
        self._buf = bytearray()
        self._pos = 0  # start of unread data in _buf; compacted lazily
        self._scan = 0  # where the search for LF resumes
        self._begin_response()

    @property
    def closed(self) -> bool:
        return self._sock is None

    @property
    def is_tls(self) -> bool:
        return isinstance(self._sock, ssl.SSLSocket)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buf = bytearray()
        self._pos = self._scan = 0
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _live(self) -> socket.socket:
        if self._sock is None:
            raise ProtocolError("the connection to the server is already closed")
        return self._sock

    def _fail(self, exc: ProtocolError) -> ProtocolError:
        self.close()
        return exc

    def _begin_response(self) -> None:
        self._t0 = time.monotonic()
        self._received = 0

    def new_response(self) -> None:
        """Start the clock for a response to a command sent earlier (pipelining):
        time spent before reading it is not the server's."""
        self._begin_response()

    def send(self, data: bytes) -> None:
        """Send a command; the next response gets a fresh time budget."""
        sock = self._live()
        sock.settimeout(self.timeout)
        try:
            sock.sendall(data)
        except TimeoutError:
            raise self._fail(StreamTimeout(f"server stopped accepting data for {self.timeout:g} s"))
        except OSError as exc:
            raise self._fail(ConnectionClosed(f"connection closed by server ({_reason(exc)})"))
        self._begin_response()

    def _fill(self) -> None:
        """Append one chunk from the socket to the buffer."""
        sock = self._live()
        if self._pos:
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        elapsed = time.monotonic() - self._t0
        budget = self.timeout + self._received / MIN_RATE - elapsed
        if budget <= 0:
            raise self._fail(self._slow(elapsed))
        sock.settimeout(min(self.timeout, budget))
        try:
            data = sock.recv(CHUNK)
        except TimeoutError:
            raise self._fail(self._slow(time.monotonic() - self._t0))
        except ssl.SSLError as exc:
            raise self._fail(TLSError(f"TLS error while reading from server: {_reason(exc)}"))
        except OSError as exc:
            raise self._fail(ConnectionClosed(f"connection closed by server ({_reason(exc)})"))
        if not data:
            raise self._fail(ConnectionClosed("connection closed by server unexpectedly"))
        self._received += len(data)
        self._buf += data

    def _slow(self, elapsed: float) -> StreamTimeout:
        message = f"no answer from server for {self.timeout:g} s"
        if self._received:
            message += f" (only {self._received} bytes arrived in {elapsed:.0f} s)"
        return StreamTimeout(message)

    def readline(self) -> bytes:
        """One line without its CRLF or LF; bytes inside the line are untouched."""
        start = self._pos
        end = self._buf.find(b"\n", self._scan)
        while end < 0:
            if len(self._buf) - self._pos > self.max_line + 1:
                raise self._fail(self._too_long())
            self._scan = len(self._buf)
            self._fill()
            start = self._pos
            end = self._buf.find(b"\n", self._scan)
        self._pos = self._scan = end + 1
        if end - start > self.max_line + 1:
            raise self._fail(self._too_long())
        if end > start and self._buf[end - 1] == 13:  # CR
            end -= 1
        return bytes(self._buf[start:end])

    def _too_long(self) -> LimitExceeded:
        return LimitExceeded(f"server sent a line longer than {self.max_line} bytes")

    def copy_exact(self, n: int, out: BinaryIO) -> int:
        """Stream exactly n bytes (an IMAP literal, say) into out, chunk by chunk."""
        left = n
        while left:
            if self._pos == len(self._buf):
                self._fill()
            take = min(left, len(self._buf) - self._pos)
            out.write(self._buf[self._pos : self._pos + take])
            self._pos += take
            left -= take
        self._scan = self._pos
        return n

    def copy_dot_terminated(self, out: BinaryIO, max_bytes: int | None = None) -> int:
        """Stream a dot-terminated multi-line body (RFC 1939/5321) into out.

        Undoes dot-stuffing and writes LF line endings, whole buffered chunks
        at a time rather than line by line (a 100 MB message is ~1.4 million
        lines). The line limit still holds: a partial line longer than
        max_line fails. Raises MessageTooLarge past max_bytes.
        """
        written = 0
        while True:
            last_nl = self._buf.rfind(b"\n", self._pos)
            if last_nl < 0:
                if len(self._buf) - self._pos > self.max_line + 1:
                    raise self._fail(self._too_long())
                self._fill()
                continue
            region = bytes(self._buf[self._pos : last_nl + 1])
            # The terminator is a line holding only "." (CRLF or bare LF).
            end = _terminator(region)
            if end is not None:
                region, self._pos = region[: end[0]], self._pos + end[1]
            else:
                self._pos = last_nl + 1
            self._scan = self._pos
            text = region.replace(b"\r\n", b"\n")
            if text.startswith(b"."):
                text = text[1:]
            text = text.replace(b"\n.", b"\n")
            written += len(text)
            if max_bytes is not None and written > max_bytes:
                raise self._fail(MessageTooLarge(f"larger than the limit of {max_bytes} bytes"))
            out.write(text)
            if end is not None:
                return written
            if len(self._buf) - self._pos > self.max_line + 1:
                raise self._fail(self._too_long())

    def read_exact(self, n: int) -> bytes:
        """n bytes held in memory, so only for sizes within the line limit."""
        if n > self.max_line:
            raise self._fail(LimitExceeded(f"server announced {n} bytes, over {self.max_line}"))
        chunks = _Collector()
        self.copy_exact(n, chunks)
        return b"".join(chunks.parts)

    def start_tls(self, context: ssl.SSLContext, hostname: str) -> None:
        """Switch to TLS after the server accepted STARTTLS/STLS.

        Anything already buffered was sent in clear before the handshake and
        would be read later as if it came over TLS (CVE-2011-0411), so it is
        refused rather than discarded.
        """
        sock = self._live()
        if self._pos < len(self._buf):
            raise self._fail(
                TLSError(
                    "server sent unexpected data before the TLS handshake "
                    "(possible STARTTLS command injection); refusing to continue"
                )
            )
        self._buf = bytearray()
        self._pos = self._scan = 0
        self._sock = None
        sock.settimeout(self.timeout)
        self._sock = wrap_socket(sock, context, hostname)
        self._begin_response()


class _Collector:
    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)


def _reason(exc: OSError) -> str:
    return printable(exc.strerror or str(exc) or type(exc).__name__, 100)
