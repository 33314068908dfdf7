"""Messages the server will not send whole: noted, skipped, counted across runs.

A message the server refuses (POP3 -ERR to RETR, IMAP NO such as Exchange's
[UNAVAILABLE]), sends cut short (retrieval/protocols/sizes.py), or loses the
connection on is a failed fetch: it stays on the server, the run notes it
and counts it as not delivered, and the session goes on with the next
message (on a new connection if the old one is gone), so the rest of the
mailbox is fetched and committed. Each failed run is one attempt, kept in
RefusedMessage; after MAX_ATTEMPTS the message is left alone on later runs
(not even asked for), and the account page, every run's notes and an alert
(retrieval/alerts.py) name it. Its record goes when it is fetched after all,
when it is no longer on the server, or when an administrator deletes it to
have it tried again (docs/architecture/no-loss/refused-messages.md).
"""

from django.db.models import Exists, OuterRef
from django.utils import timezone

from popadmin.net.errors import ProtocolError
from popadmin.text import storable
from retrieval.models import RefusedMessage
from retrieval.models.refused import MAX_ATTEMPTS

# Connections lost on this many messages in a row end the run: the server,
# not a message, is then the likelier culprit, and each loss may have cost
# a whole timeout.
DROPS_IN_A_ROW = 3
REASON_CHARS = 500


class Refusals:
    def __init__(self, account, run):
        self.account = account
        self.run = run
        self.known: dict[str, RefusedMessage] = {}  # records of messages still listed
        self.drops = 0

    @staticmethod
    def any_recorded():
        """An annotation for the account's own query: whether it has any record,
        so a poll of an account without one costs no query here."""
        return Exists(RefusedMessage.objects.filter(account=OuterRef("pk")))

    def start(self, listing) -> set[str]:
        """At the run's first listing: forget the records of messages no longer
        on the server; the uids to leave alone, each noted in the run."""
        if not getattr(self.account, "has_refused", True):
            return set()
        rows = {r.uid: r for r in RefusedMessage.objects.filter(account=self.account)}
        if not rows:
            return set()
        listed = {m.uid for m in listing}
        gone = [r.pk for uid, r in rows.items() if uid not in listed]
        for start in range(0, len(gone), 500):  # bounded IN (...) lists, as for SQLite
            RefusedMessage.objects.filter(pk__in=gone[start : start + 500]).delete()
        self.known = {uid: r for uid, r in rows.items() if uid in listed}
        held = sorted(uid for uid, r in self.known.items() if r.left_alone)
        for uid in held:
            self.run.note(self.known[uid].summary())
        self.run.standing_notes = len(held)  # not news enough to keep an empty poll's row
        return set(held)

    def fetched(self, msg) -> None:
        """The message arrived whole: any record of earlier failures goes."""
        self.drops = 0
        if self.known.pop(msg.uid, None) is not None:
            RefusedMessage.objects.filter(account=self.account, uid=msg.uid).delete()

    def failed(self, msg, exc) -> None:
        """One failed attempt at `msg` (a FetchFailed): recorded and noted. Raises
        ProtocolError, ending the run, once connections were lost on
        DROPS_IN_A_ROW messages in a row."""
        now = timezone.now()
        row = self.known.get(msg.uid)
        if row is None:
            row, _ = RefusedMessage.objects.get_or_create(
                account=self.account, uid=msg.uid, defaults={"first_failed": now})
            self.known[msg.uid] = row
        row.attempts += 1
        row.size, row.last_failed = msg.size, now
        row.reason = storable(str(exc), REASON_CHARS)
        row.save(update_fields=["attempts", "size", "last_failed", "reason"])
        text = (f"message {msg.uid}: not fetched, left on the server: {row.reason} "
                f"(failed attempt {row.attempts} of {MAX_ATTEMPTS}")
        if row.left_alone:
            text += "; not asked for again until an administrator retries it)"
        else:
            text += "; tried again at the next check)"
        self.run.note(text)
        self.run.remember_failure(text)
        if exc.connected:
            self.drops = 0
            return
        self.drops += 1
        if self.drops >= DROPS_IN_A_ROW:
            raise ProtocolError(
                f"the connection was lost on {self.drops} messages in a row, the last time: "
                f"{row.reason}; the rest waits on the server for the next check")


def held_messages(accounts) -> dict[int, list[RefusedMessage]]:
    """Account id -> its records, for pages listing accounts (one query)."""
    found: dict[int, list[RefusedMessage]] = {}
    for row in RefusedMessage.objects.filter(account__in=accounts):
        found.setdefault(row.account_id, []).append(row)
    return found
