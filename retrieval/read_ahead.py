"""Messages downloaded ahead of the one being delivered.

Before a message is delivered, its earlier copies are looked up (its token
and, with the duplicate check on, its key in the mailbox: delivery/router.py).
On PostgreSQL that is a round trip per message, a third of a session's time.
So a single-user account's session downloads the next few messages of its
batch (up to AHEAD_MESSAGES and AHEAD_BYTES as listed) right after the one in
hand, inspects them, and looks up all their earlier copies in one query
(Router.prefetch); each is then delivered in its turn as before.

Nothing about what is delivered, recorded or deleted changes:

- read ahead only while the destination takes mail (Router.may_read_ahead),
  never for a catch-all account (its mailboxes depend on each message), and
  never past a message that starts a group of its own (GROUP_ALONE_BYTES);
- a message the server refuses on a connection still in order waits for its
  turn and is handled there as if just fetched;
- a failure that leaves the connection in an unknown state (cut off, or over
  the size limit mid-message) ends the pass at once, as it does in its turn:
  the messages read ahead are not delivered and stay on the server for the
  next pass, and nothing is deleted on that connection;
- a pass that ends early (service stopped, storage refused) drops what it read
  ahead, undelivered and not deleted.
"""

from dataclasses import dataclass

from retrieval.group_commit import GROUP_ALONE_BYTES
from retrieval.spool import emptied

AHEAD_MESSAGES = 16
AHEAD_BYTES = 256 * 1024


@dataclass
class Ahead:
    """One message read ahead: its spool and size, and what its turn needs."""

    spool: object
    size: int = 0
    info: object = None  # delivery.message.MessageInfo
    error: Exception | None = None  # inspecting it failed: it fails alone in its turn
    refused: Exception | None = None  # FetchFailed on a connection still in order


class ReadAhead:
    def __init__(self, spool_dir):
        self.spool_dir = spool_dir
        self.ready: dict[str, Ahead] = {}
        self._order: dict[str, int] = {}
        self._batch: list = []
        self._spools: list = []  # emptied spools, for the next read-ahead

    def plan(self, batch):
        """The pass's batch, in the order the engine takes it."""
        self.drop()
        self._batch = list(batch)
        self._order = {msg.uid: i for i, msg in enumerate(self._batch)}

    def following(self, msg) -> list:
        """The messages to read after `msg`: the next ones of the batch not read
        yet, within the limits, stopping before one that goes alone."""
        start = self._order.get(msg.uid)
        if start is None:
            return []
        out, listed = [], 0
        for nxt in self._batch[start + 1 : start + 1 + AHEAD_MESSAGES]:
            if nxt.uid in self.ready or nxt.size > GROUP_ALONE_BYTES:
                break
            listed += nxt.size
            if out and listed > AHEAD_BYTES:
                break
            out.append(nxt)
        return out

    def entry(self) -> Ahead:
        return Ahead(spool=emptied(self._spools.pop() if self._spools else None,
                                   self.spool_dir))

    def keep(self, uid: str, entry: Ahead):
        self.ready[uid] = entry

    def pop(self, uid: str) -> Ahead | None:
        return self.ready.pop(uid, None)

    def release(self, entry: Ahead):
        """Its turn is over: the spool serves a later read-ahead."""
        self._spools.append(entry.spool)

    def drop(self):
        """What was read ahead and not delivered stays on the server."""
        for entry in self.ready.values():
            self.release(entry)
        self.ready.clear()

    def close(self):
        self.drop()
        for spool in self._spools:
            spool.close()
        self._spools.clear()
