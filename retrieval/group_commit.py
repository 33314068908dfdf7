"""Group commit: many delivered messages, one transaction, then their deletion.

Each message is delivered durably on its own (the Maildir file and its
directory fsync'd, or the LMTP/SMTP server's acceptance) before the next is
fetched. What the database keeps of it (its Delivery rows, its seen-state,
the run's counters) is kept in memory and written in one short transaction
per group (the Delivery rows in one bulk INSERT): at most GROUP_MESSAGES
messages, GROUP_SECONDS of work or GROUP_BYTES of mail. Only after that
commit are the group's messages deleted at the source (POP3 DELE, pipelined
where the server offers PIPELINING; IMAP at the session's commit). So one
commit (one fsync of the database log) serves a group instead of one per
message, and the user's page still sees the run's progress at least once a
second.

What a crash costs, at each point:
- before the group's commit: the group's copies are on disk but unrecorded;
  the next session fetches those messages again and recognises each copy by
  the token in its file name (delivery/router.py): no second copy, counted as
  a duplicate with a note. Other backends (LMTP/SMTP) have no such token
  lookup; their Delivery rows roll back with the group, so at most one group
  may be delivered to them twice (as before: a crash between a server's
  acceptance and its record did the same for one message).
- after the commit, before the deletions are confirmed (POP3 QUIT, IMAP
  expunge): the messages are marked seen, so the next session deletes them
  without fetching them, once their listed size and headers still match the
  recorded ones (retrieval/identity.py).
Nothing is deleted at the source before its copy is durable and recorded.
"""

import logging
import time

from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db.models import F

from delivery.models import Delivery
from popadmin import rows
from retrieval.models import Run, SeenMessage

log = logging.getLogger(__name__)

GROUP_MESSAGES = 200
GROUP_SECONDS = 1.0
# Mail one group may hold unrecorded; a message listed bigger than this
# starts a group of its own (the engine commits the open one first), so a
# slow big download never holds back the records of the mail before it.
GROUP_BYTES = 1024 * 1024
GROUP_ALONE_BYTES = GROUP_BYTES


class GroupCommit:
    def __init__(self, account, run, token, lease_seconds, refused=None, durable=None):
        """`refused(msg, report, exc)`: the database would not take a message's
        Delivery rows; the message is then neither marked seen nor deleted.
        `durable()`: makes the group's copies durable (Router.flush), before
        they are recorded."""
        self.refused = refused
        self.durable = durable
        self.account = account
        self.run = run
        self.token = token
        self.lease_seconds = lease_seconds
        self._open = False
        self._started = 0.0
        self._bytes = 0
        self._seen: list[rows.Row] = []  # SeenMessage rows
        self._deliveries: list[tuple] = []  # (msg, its unsaved Delivery rows, its report)
        self._delete: list = []
        self._replace: list[str] = []  # uids whose old row the group's rows replace
        self._pending: dict[str, int] = {}

    def begin(self):
        """Start a group if none is open (before a delivery's records). Nothing
        is written until its commit, so no transaction (and, on SQLite, no
        write lock) is held while the group's mail downloads: sessions running
        side by side (workers, `fetch --all`) only wait for each other's commits."""
        if not self._open:
            self._open = True
            self._started = time.monotonic()
            self._bytes = 0

    def count(self, **counts):
        """Add to the run's counters: at once in memory, in the database at the commit."""
        for key, value in counts.items():
            setattr(self.run, key, getattr(self.run, key) + value)
            self._pending[key] = self._pending.get(key, 0) + value
        self._bytes += counts.get("bytes", 0)

    def record(self, msg, report):
        """A message's Delivery rows (unsaved, in its delivery report), written with the group."""
        if report.records:
            self._deliveries.append((msg, report.records, report))

    def settled(self, msg, info, delete: bool, replace: bool = False, **identity):
        """Every copy of `msg` is stored: mark it seen (and maybe delete it) with the group.

        `identity`: the row's size, header digest, origin and first seen
        (retrieval/identity.py); `replace`: a row with this uid, of the message
        taken before under it, goes in the same transaction."""
        self._seen.append(rows.new(SeenMessage, account_id=self.account.pk, uid=msg.uid,
                                   message_key=info.key, content_digest=info.digest,
                                   **identity))
        if replace:
            self._replace.append(msg.uid)
        if delete:
            self._delete.append(msg)

    def full(self) -> bool:
        return self._open and (
            self._pending.get("fetched", 0) >= GROUP_MESSAGES
            or self._bytes >= GROUP_BYTES
            or time.monotonic() - self._started >= GROUP_SECONDS
        )

    def commit(self, session):
        """Record the group in one transaction, then delete its messages at the source."""
        self._record()
        delete, self._delete = self._delete, []
        if delete:
            session.delete_many(delete)
            self.count(deleted=len(delete))  # written with the next group or by the run's end

    def abandon(self, exc: BaseException):
        """The session broke off: keep the records of what was delivered (unless
        the database itself failed), delete nothing."""
        self._delete = []
        if isinstance(exc, DatabaseError):
            self._open = False
            self._seen, self._pending, self._deliveries = [], {}, []
            self._replace = []
            return
        self._record()

    def flush_counts(self):
        """Counters not yet written (deletions after the last group), in their own statement."""
        if not self._open:
            self._write_counts()

    def _record(self):
        self._open = False
        if not self._seen and not self._pending and not self._deliveries:
            return
        if self.durable is not None and (self._seen or self._deliveries):
            self.durable()  # raises if a copy may not be on disk: nothing is recorded
        with transaction.atomic():
            if self._deliveries:
                self._insert_deliveries()
            if self._seen:
                if self._replace:
                    SeenMessage.objects.filter(account=self.account,
                                               uid__in=self._replace).delete()
                rows.insert(SeenMessage, self._seen, ignore_conflicts=True)
                self._seen = []
            self._replace = []
            self._write_counts()
            self.account.renew_lease(self.token, self.lease_seconds)

    def _insert_deliveries(self):
        """The group's Delivery rows in one INSERT; if the database refuses it,
        message by message, so a row that slipped past the cleaning costs its
        own message (left on the server, not marked seen) and not the group."""
        groups, self._deliveries = self._deliveries, []
        try:
            with transaction.atomic():
                rows.insert(Delivery, [row for _, records, _ in groups for row in records])
            return
        except (OperationalError, InterfaceError):
            raise  # the database is gone, not the rows: the group rolls back
        except Exception as exc:  # which message it is, the loop below finds out
            log.warning("account %s: a group's delivery rows were refused (%s); "
                        "recording them message by message", self.account.pk, exc)
        for msg, records, report in groups:
            try:
                with transaction.atomic():
                    rows.insert(Delivery, records)
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:  # e.g. DataError, UnicodeEncodeError
                self._seen = [s for s in self._seen if s.uid != msg.uid]
                self._replace = [uid for uid in self._replace if uid != msg.uid]
                self._delete = [m for m in self._delete if m.uid != msg.uid]
                if self.refused is not None:
                    self.refused(msg, report, exc)

    def _write_counts(self):
        pending, self._pending = self._pending, {}
        if pending:
            Run.objects.filter(pk=self.run.pk).update(
                **{key: F(key) + value for key, value in pending.items()})
