"""POP3 PIPELINING (RFC 2449): RETR and DELE sent ahead of their answers.

Where the server lists PIPELINING in CAPA, the engine hands the session the
messages it is about to fetch (prefetch()), and each fetch() sends RETR for up
to RETR_WINDOW of the next ones before reading its own message. The server
then streams message after message while the engine delivers and records the
one in hand, instead of waiting one round trip per message.

Answers come back in the order the commands went out, so every command sent
ahead is remembered in a queue and its answer read in turn:
- a DELE sent while RETRs are in flight (a group's commit in mid-batch) is
  queued behind them; its answer is read before the next command's;
- a RETR whose message is not fetched after all (the service was stopped, the
  run ends early) has its body read into nothing, still under the size and
  line limits, before QUIT.
Every answer goes through the same guards as without pipelining (line limit,
size limit, response clock); a message over the size limit closes the
connection, since the stream is then mid-message.

Our side only ever sends short commands (RETR_WINDOW RETRs, DELE bursts), so
the server is never kept from reading them by responses we have not read:
TCP flow control bounds what the server sends ahead.
"""

from __future__ import annotations

from collections import deque
from typing import BinaryIO

from popadmin.net.errors import LimitExceeded, MessageTooLarge, ProtocolError
from popadmin.net.stream import ConnectionClosed
from popadmin.net.text import printable

from .base import FetchFailed, RemoteMessage
from .sizes import WireCounter, pop3_cut_short

# RETRs in flight, the one being read included (~12 octets each).
RETR_WINDOW = 16
# The window is topped up once this many or fewer are in flight: one write
# (one TLS record, one system call) per several messages, not one per message.
RETR_REFILL = RETR_WINDOW // 2
# Pipelined DELE commands sent before reading their answers (~15 and ~20 octets each).
DELE_BURST = 100


class _Discard:
    def write(self, data) -> int:
        return len(data)


class POP3Pipeline:
    """Mixin for POP3Session: the queue of commands whose answers are still to read."""

    def _init_pipeline(self) -> None:
        self._plan: deque[int] = deque()  # messages the engine will fetch, in order
        self._inflight: deque[tuple[bytes, int]] = deque()  # (verb, number) sent ahead
        self._retrs_ahead = 0
        self._max_bytes: int | None = None  # the limit for bodies read into nothing

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.capabilities

    def prefetch(self, msgs: list[RemoteMessage]) -> None:
        """The messages about to be fetched, in order: their RETRs may go out ahead."""
        if self.pipelining:
            self._plan = deque(_number(m) for m in msgs)

    def fetch(self, msg: RemoteMessage, out: BinaryIO, max_bytes: int | None = None) -> int:
        number = _number(msg)
        self._max_bytes = max_bytes
        if (b"RETR", number) not in self._inflight:
            if self._plan and self._plan[0] == number:
                self._plan.popleft()
            self._inflight.append((b"RETR", number))
            self._retrs_ahead += 1
            self._send_ahead(b"RETR %d\r\n" % number)
        else:
            self._send_ahead(b"")
        self._read_ahead_of((b"RETR", number))
        self._retrs_ahead -= 1
        counter = WireCounter(out)
        try:
            self._io().new_response()
            line = self._io().readline()
            if not line.startswith(b"+OK"):
                if self._inflight:
                    self.close()  # the rest of the queue cannot be trusted after this
                self._refused_retr(number, line)
            written = self._io().copy_dot_terminated(counter, max_bytes)
        except FetchFailed:
            raise
        except MessageTooLarge as exc:
            self.close()  # the rest of the message is still on the wire
            raise MessageTooLarge(f"message {number} is {exc}")
        except ConnectionClosed:
            self.close()
            raise FetchFailed(f"connection lost while downloading message {number}", False)
        except ProtocolError as exc:  # a timeout, a line over the limit, garbage
            self.close()
            raise FetchFailed(f"{exc} while downloading message {number}", False)
        if pop3_cut_short(msg.size, counter.octets):
            raise FetchFailed(
                f"message {number} arrived cut short: {counter.octets} octets received, "
                f"the server listed {msg.size}", self._stream is not None)
        return written

    def delete_many(self, msgs: list[RemoteMessage]) -> None:
        """With PIPELINING, DELEs go out in bursts and their answers are read
        after (or, with RETRs in flight, behind those RETRs' bodies)."""
        if not self.pipelining:
            return super().delete_many(msgs)
        for start in range(0, len(msgs), DELE_BURST):
            numbers = [_number(m) for m in msgs[start : start + DELE_BURST]]
            self._io().send(b"".join(b"DELE %d\r\n" % n for n in numbers))
            self._inflight.extend((b"DELE", n) for n in numbers)
            if not self._retrs_ahead:
                self._read_ahead_of(None)

    def _send_ahead(self, first: bytes) -> None:
        """Send `first` and, once the window is down to RETR_REFILL, RETRs for
        the planned messages up to RETR_WINDOW."""
        batch = [first] if first else []
        if self._retrs_ahead <= RETR_REFILL:
            while self._plan and self._retrs_ahead < RETR_WINDOW:
                number = self._plan.popleft()
                self._inflight.append((b"RETR", number))
                self._retrs_ahead += 1
                batch.append(b"RETR %d\r\n" % number)
        if batch:
            self._io().send(b"".join(batch))

    def _read_ahead_of(self, stop: tuple[bytes, int] | None) -> None:
        """Read the answers queued before `stop` (removed from the queue too), or all."""
        while self._inflight:
            entry = self._inflight.popleft()
            if entry == stop:
                return
            verb, number = entry
            self._io().new_response()
            if verb == b"DELE":
                self._answer(b"DELE", f"server refused to delete message {number}")
            else:
                self._retrs_ahead -= 1
                self._skip_body(number)
        if stop is not None:
            raise AssertionError(f"{stop!r} was never sent")

    def _skip_body(self, number: int) -> None:
        """A RETR sent ahead whose message is not wanted any more: read it into nothing."""
        line = self._io().readline()
        if line.startswith(b"-ERR"):
            return  # refused: no body follows, and it was not wanted anyway
        if not line.startswith(b"+OK"):
            self.close()
            raise ProtocolError(f"unexpected answer from server to RETR: {self._text(line)}")
        try:
            self._io().copy_dot_terminated(_Discard(), self._max_bytes)
        except (ProtocolError, LimitExceeded):
            self.close()
            raise

    def _drain(self) -> None:
        """Every answer still owed, before a command read in lockstep (QUIT, DELE)."""
        self._plan.clear()
        if self._inflight:
            self._read_ahead_of(None)

    def _refused_retr(self, number: int, line: bytes):
        if line.startswith(b"-ERR"):
            raise FetchFailed(f"server refused to send message {number}: "
                              f"{self._text(line[4:])}", self._stream is not None)
        self.close()
        raise FetchFailed(f"unexpected answer from server to RETR {number}: "
                          f"{self._text(line)}", False)


def _number(msg: RemoteMessage) -> int:
    if not msg.handle.isdigit():
        raise ProtocolError(f"not a POP3 message number: {printable(msg.handle, 50)}")
    return int(msg.handle)
