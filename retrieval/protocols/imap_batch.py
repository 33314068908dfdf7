"""IMAP fetches sent ahead: many messages per UID FETCH, read one literal at a time.

The engine hands the session the messages it is about to fetch (prefetch()).
The first fetch() sends `UID FETCH a,b,c,... (BODY.PEEK[])` for up to
BATCH_MESSAGES of them (BATCH_BYTES of listed size), and whenever the message
asked for is in the newest command in flight, the next command goes out
before its body is read. The server thus streams message after message while
the engine delivers and records the one in hand, instead of waiting one round
trip per message. At most two commands are in flight.

Nothing is read ahead of need: fetch() reads responses only until its own
message's literal has gone, chunk by chunk, into the caller's file; the rest
stays in the socket (TCP flow control bounds what the server sends). Every
response goes through the same guards as a lone command (line limit, the
per-response byte budget, the size limit checked on the literal's announced
size, the response clock restarted for each message).

The server may answer in any order (RFC 3501 §5.5, §7.4.2) and may put UID
after the body, so every literal is matched to its message by UID:
- our message's body is streamed to the caller's file;
- the body of another message still to come in the batch (a server that
  reorders) is read into nothing; that message leaves the batch and is asked
  for on its own when its turn comes;
- a body whose UID is unknown until after it is taken as ours, and if it turns
  out to be another message of the batch, the caller's file is rewound.
A message whose command ends without its body vanished (or was refused, with
the server's reason), exactly as with one command per message; if other
messages of that command had not arrived either, it is asked for alone first,
so a refusal of the whole command is blamed on the right message. Every body
is checked against the listing (retrieval/protocols/sizes.py): a partial
`BODY[]<n>` or a literal of another size than RFC822.SIZE is a failed fetch.
All of these raise FetchFailed, which costs that message only.

Before any other command (SELECT of the next folder, the deletions at commit,
LOGOUT), the answers still owed are read, bodies into nothing, still under
the size limit. So a message the engine does not take after all (the service
stopped, a failure) is never marked: BODY.PEEK leaves \\Seen alone and only
the messages passed to delete() are flagged at commit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import BinaryIO

from popadmin.net.errors import MessageTooLarge, ProtocolError
from popadmin.net.text import printable

from . import sizes
from .base import FetchFailed, RemoteMessage
from .imap_parse import (
    BodySink,
    Budget,
    MalformedResponse,
    Response,
    Streamed,
    fetch_items,
    is_body_key,
    number,
    uid_of,
    uid_sets,
)
from .imap_wire import IncompleteMessage

# Messages per UID FETCH, and their listed size: what is left to read into
# nothing (two commands' worth at most) when a run ends early.
BATCH_MESSAGES = 64
BATCH_BYTES = 1024 * 1024


@dataclass
class _Batch:
    tag: bytes
    folder: str
    uidvalidity: int | None
    uids: set[int]  # asked for, body not arrived yet
    done: Response | None = field(default=None)  # its tagged answer, once read


class _Discard:
    def write(self, data) -> int:
        return len(data)

    def finish(self) -> None:
        pass


class IMAPBatch:
    """Mixin for IMAPSession: the plan and the UID FETCH commands in flight."""

    def _init_batch(self) -> None:
        self._plan: deque[tuple[str, int, int, int]] = deque()  # folder, uidvalidity, uid, size
        self._flight: deque[_Batch] = deque()
        self._max_bytes: int | None = None  # the limit for bodies read into nothing

    def prefetch(self, msgs: list[RemoteMessage]) -> None:
        self._plan = deque((*parse_message(m), m.size) for m in msgs)

    def fetch(self, msg: RemoteMessage, out: BinaryIO, max_bytes: int | None = None) -> int:
        folder, uidvalidity, uid = parse_message(msg)
        self._max_bytes = max_bytes
        where = f"message {uid} in folder '{folder}'"
        batch = self._holding(folder, uidvalidity, uid)
        if batch is None:
            self._use(folder, uidvalidity)  # a SELECT first reads what is owed
            batch = self._send_batch(folder, uidvalidity, uid)
        if batch is self._flight[-1]:
            self._send_ahead()
        try:
            written, body = self._receive(batch, uid, out, max_bytes, where)
        except FetchFailed as exc:
            if not exc.connected or not batch.uids - {uid}:
                raise
            # A command refused before other messages of it arrived may have
            # been refused for any of them: this one is blamed only if it is
            # refused when asked for alone.
            alone = self._send(folder, uidvalidity, [uid])
            written, body = self._receive(alone, uid, out, max_bytes, where)
        if body.key.upper() != b"BODY[]":
            raise FetchFailed(f"server sent only part of {where} ({printable(body.key, 40)}, "
                              "which was not asked for)", True)
        if sizes.imap_mismatch(msg.size, body.size):
            raise FetchFailed(f"{where} arrived cut short or altered: the server sent "
                              f"{body.size} octets and listed {msg.size}", True)
        return written

    def _command(self, *args, **kwargs):
        # Every lockstep command waits for the fetches sent ahead to be answered.
        if self._flight:
            self._drain()
        return super()._command(*args, **kwargs)

    # -- sending -------------------------------------------------------------

    def _holding(self, folder: str, uidvalidity: int, uid: int) -> _Batch | None:
        return next((b for b in self._flight if uid in b.uids
                     and (b.folder, b.uidvalidity) == (folder, uidvalidity)), None)

    def _send_batch(self, folder: str, uidvalidity: int, uid: int) -> _Batch:
        """UID FETCH for `uid` and the planned messages after it in the same folder."""
        plan = self._plan
        if plan and plan[0][:3] != (folder, uidvalidity, uid):
            if any(p[:3] == (folder, uidvalidity, uid) for p in plan):
                while plan[0][:3] != (folder, uidvalidity, uid):
                    plan.popleft()  # skipped by the engine: asked for alone if ever
        size = plan.popleft()[3] if plan and plan[0][:3] == (folder, uidvalidity, uid) else 0
        uids = [uid] + self._take_plan(folder, uidvalidity, 1, size)
        return self._send(folder, uidvalidity, uids)

    def _send_ahead(self) -> None:
        if self._selected is None or not self._plan:
            return
        folder = self._selected
        uidvalidity = self.uidvalidity.get(folder)
        uids = self._take_plan(folder, uidvalidity, 0, 0)
        if uids:
            self._send(folder, uidvalidity, uids)

    def _take_plan(self, folder: str, uidvalidity, count: int, size: int) -> list[int]:
        """The next planned UIDs of the folder, within BATCH_MESSAGES and BATCH_BYTES
        with the `count` messages of `size` already in the command (a message
        listed bigger than BATCH_BYTES goes alone)."""
        plan = self._plan
        uids: list[int] = []
        while plan and plan[0][:2] == (folder, uidvalidity) and count < BATCH_MESSAGES:
            if count and size + plan[0][3] > BATCH_BYTES:
                break
            entry = plan.popleft()
            uids.append(entry[2])
            count, size = count + 1, size + entry[3]
        return uids

    def _send(self, folder: str, uidvalidity: int | None, uids: list[int]) -> _Batch:
        tag = b"A%03d" % next(self._tags)
        line = tag + b" UID FETCH " + b",".join(uid_sets(uids)) + b" (BODY.PEEK[])\r\n"
        try:
            self._io().send(line)
        except BaseException as exc:
            raise self._broken(exc)
        batch = _Batch(tag, folder, uidvalidity, set(uids))
        self._flight.append(batch)
        return batch

    # -- reading -------------------------------------------------------------

    def _receive(self, batch: _Batch, uid: int, out: BinaryIO, max_bytes, where: str):
        """(octets written to `out`, the body's sink) of our message's literal."""
        catch = _Catch(self, batch, BodySink(uid, out, max_bytes, where), where)
        try:
            self._read(lambda: catch.body.complete or batch.done is not None, catch)
        except (MessageTooLarge, FetchFailed):
            raise
        except ProtocolError as exc:
            body = catch.body
            if body.size is not None and not body.complete:
                raise IncompleteMessage(
                    f"download of {where} broke off after {body.received} of {body.size} "
                    f"bytes: {exc}",
                    body.received,
                    body.size,
                ) from exc
            # The connection failed (or the server said something else) while
            # this message was awaited: a failure of this fetch, and of the session.
            raise FetchFailed(f"{exc} while downloading {where}", False) from exc
        if catch.body.complete:
            return catch.body.written, catch.body
        if batch.done.name != "OK":
            raise FetchFailed(f"server refused to send {where}: {self._text(batch.done)}", True)
        raise FetchFailed(f"{where} vanished from the server", True)

    def _drain(self) -> None:
        """Every answer still owed; bodies go into nothing, under the size limit."""
        self._read(lambda: not self._flight, _Catch(self, None, None, None))

    def _read(self, done, catch: _Catch) -> None:
        stream = self._io()
        stream.new_response()  # time spent delivering is not the server's
        budget = Budget(self.max_listing)
        try:
            while not done():
                response = self._reader.read(budget, catch.sink_for)
                if response.tag == b"*":
                    self._untagged(response, catch.check)
                elif response.tag == b"+":
                    raise MalformedResponse("unexpected continuation request", response.line)
                else:
                    self._answered(response)
        except BaseException as exc:
            raise self._broken(exc)

    def _answered(self, response: Response) -> None:
        batch = next((b for b in self._flight if b.tag == response.tag), None)
        if batch is None:
            raise MalformedResponse("response with an unknown tag", response.line)
        self._flight.remove(batch)
        self._note_code(response)
        batch.done = response

    def _owed(self, uid: int) -> _Batch | None:
        """The batch in flight still waiting for `uid` (all are of one folder:
        a SELECT reads what is owed first)."""
        return next((b for b in self._flight if uid in b.uids), None)


class _Catch:
    """Routes each body literal of a read: to our file, into nothing, or to memory."""

    def __init__(self, session: IMAPBatch, batch: _Batch | None, body: BodySink | None, where):
        self.session = session
        self.batch = batch
        self.body = body
        self.where = where
        self.tentative = False  # our file holds a body whose UID is not known yet
        self.start = _tell(body.out) if body else None

    def sink_for(self, attributes: list, size: int):
        if len(attributes) % 2 == 0 or not is_body_key(attributes[-1]):
            return None
        uid = uid_of(attributes)
        body = self.body
        if body is not None and body.size is None and uid in (None, body.uid):
            if uid is None or body.uid in self.batch.uids:
                sink = body.sink_for(attributes, size)  # raises MessageTooLarge
                self.batch.uids.discard(body.uid)
                self.tentative = uid is None
                return sink
        owner = self.session._owed(uid) if uid is not None else None
        if owner is None and not (uid is None and body is None):
            return None  # not asked for: held in memory under the line limit, as ever
        if owner is not None:
            owner.uids.discard(uid)  # asked for alone when its turn comes
        limit = self.session._max_bytes
        if limit is not None and size > limit:
            asked = f"when asked for {self.where}" if self.where else "among messages sent ahead"
            raise ProtocolError(
                f"server sent message {uid} ({size} bytes, over the size limit of "
                f"{limit} bytes) {asked}"
            )
        return _Discard()

    def check(self, response: Response) -> None:
        """Once a FETCH response is whole: a body taken as ours must be ours."""
        if not self.tentative or response.name != "FETCH":
            return
        items = fetch_items(response)
        if not any(isinstance(v, Streamed) for v in items.values()):
            return
        self.tentative = False
        got, body = number(items.get("UID")), self.body
        if got in (None, body.uid):
            return
        owner = self.session._owed(got)
        if owner is None or self.start is None:
            raise ProtocolError(f"server sent message {got} when asked for {self.where}")
        # Another message of the batch came first: ours is still to come.
        owner.uids.discard(got)
        self.batch.uids.add(body.uid)
        body.out.seek(self.start)
        body.out.truncate()
        self.body = BodySink(body.uid, body.out, body.max_bytes, body.where)


def _tell(out) -> int | None:
    try:
        return out.tell() if out.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def parse_message(msg: RemoteMessage) -> tuple[str, int, int]:
    """(folder, UIDVALIDITY, UID) of a message this client listed."""
    folder, sep, uid = msg.handle.rpartition("\0")
    parts = msg.uid.rsplit("/", 2)
    if (
        not sep
        or not (uid.isascii() and uid.isdigit())
        or len(parts) != 3
        or parts[0] != folder
        or not (parts[1].isascii() and parts[1].isdigit())
    ):
        raise ProtocolError(f"not a message of an IMAP listing: {printable(msg.uid, 50)}")
    return folder, int(parts[1]), int(uid)
