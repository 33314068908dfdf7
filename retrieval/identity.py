"""What identifies a message beyond its UID, and when seen-state may delete it.

A UID alone is not enough to delete by: POP3 servers list one UIDL twice,
hand a UIDL out again once its message is gone (some number them by
position), and a few IMAP servers reuse a UID under the same UIDVALIDITY.
So each seen-state row (SeenMessage) keeps what else identifies its message,
and the engine asks this module before it deletes anything it did not fetch
in the same session (docs/architecture/no-loss/identities.md):

- `size`, as the server listed it when the message was taken. A server lists
  the same message with the same size every time, so a message listed under
  a known uid with another size is a different one: it is fetched and
  delivered (or, if its content is the row's after all, recorded again) and
  never deleted unfetched. Checked on every listing: it costs nothing.
- `header_digest`: SHA-256 of the header block as taken, compared with the
  server's (POP3 `TOP n 0`, IMAP `BODY.PEEK[HEADER]`) just before the
  message would be deleted, so a reused uid on a message of the same size is
  not deleted either. Only then: one TOP per deletion (pipelined, with the
  DELEs' burst size, where the server offers PIPELINING; IMAP asks for 100
  at a time), not one per listed message per poll. A server that refuses
  leaves the size as the only check.
- `origin`: a row an import wrote (another retriever's memory, the server's
  \\Seen flags) was never downloaded here. It stops a redelivery but never
  allows a deletion (docs/architecture/no-loss/imported-state.md).

A row without a size (written before sizes were kept) cannot be matched:
when its keep policy would delete the message, the message is fetched first;
the same content (key and digest as recorded) is then recorded and deleted as
before, anything else is delivered as a new message.

A UIDL listed more than once gets a unique uid by position (pop3.py: "X",
"X#dup2"). Positions shift when a copy goes, so this module gives each copy
the uid of the row whose size (and, on a tie, header digest) it has, and a
copy no row matches a uid no row has: a second copy never takes over the
first's identity.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from django.utils import timezone

from retrieval.models import SeenMessage
from retrieval.protocols.header_digest import HEADER_LIMIT, header_digest
from retrieval.seen_state import chunks

CONTENT_UID = "sha256:"  # a POP3 server without UIDL: the uid already is size and headers
_DUP = re.compile(r"(.+)#dup(\d+)\Z", re.S)


class Stored(NamedTuple):
    """What the engine reads of every seen-state row on each pass (small: no digests)."""

    first_seen: dt.datetime
    size: int | None
    origin: str

    @property
    def imported(self) -> bool:
        return self.origin == SeenMessage.Origin.IMPORTED


def stored(account) -> dict[str, Stored]:
    rows = SeenMessage.objects.filter(account=account).values_list(
        "uid", "first_seen", "size", "origin")
    return {uid: Stored(first_seen, size, origin) for uid, first_seen, size, origin in rows}


def spool_header_digest(spool) -> str:
    """The header digest of a spooled copy (read up to its empty line only)."""
    spool.seek(0)
    return header_digest(_until_blank(spool))


def _until_blank(spool):
    read = 0
    for line in iter(spool.readline, b""):
        yield line
        read += len(line)
        if line in (b"\n", b"\r\n") or read > HEADER_LIMIT:
            return


@dataclass
class Check:
    """One pass's verdicts on the listed messages that have a seen-state row."""

    fetch: set[str] = field(default_factory=set)  # identity unknown or changed: fetch first
    deletable: set[str] = field(default_factory=set)  # due and still the message taken
    due_fetch: set[str] = field(default_factory=set)  # due, but fetched first to check it
    recheck: dict[str, tuple[dt.datetime, str, str]] = field(default_factory=dict)


class Identities:
    """The engine's helper for one run (retrieval/engine.py)."""

    def __init__(self, account, run):
        self.account = account
        self.run = run
        self.check_result = Check()
        self._noted: set[str] = set()  # each note once per run, however many passes

    # -- repeated UIDLs --------------------------------------------------

    def stable(self, session, listing, seen: dict[str, Stored]):
        """The listing with each copy of a repeated UIDL under the uid of the row it matches."""
        repeated = {m.repeat_of for m in listing if m.repeat_of}
        family_rows: dict[str, list[str]] = {}
        for uid in seen:
            if "#dup" in uid and (match := _DUP.match(uid)):
                family_rows.setdefault(match.group(1), []).append(uid)
        listed = {m.uid for m in listing}
        bases = repeated | {b for b in family_rows if b in listed}
        if not bases:
            return listing
        copies: dict[str, list] = {b: [] for b in bases}
        for m in listing:
            base = m.repeat_of or m.uid
            if base in copies:
                copies[base].append(m)
        renamed = {}
        for base, family in copies.items():
            members = {m.uid for m in family}
            outside = listed - members  # a server may itself list "X#dup2"
            rows = [u for u in [base, *sorted(family_rows.get(base, []))]
                    if u in seen and u not in outside]
            renamed.update(self._match(session, base, family, rows, seen, listed))
        return [dataclasses.replace(m, uid=renamed[m.handle]) if m.handle in renamed else m
                for m in listing]

    def _match(self, session, base, family, rows, seen, listed) -> dict[str, str]:
        free = list(rows)
        names: dict[str, str] = {}
        unmatched = []
        for m in family:
            same = [u for u in free if seen[u].size == m.size]
            if len(same) > 1:
                same = (self._by_headers(session, m, same)
                        or ([m.uid] if m.uid in same else same[:1]))
            if not same and m.uid in free and seen[m.uid].size is None:
                same = [m.uid]  # a row older than sizes: its position is all there is
            if same:
                free.remove(same[0])
                names[m.handle] = same[0]
            else:
                unmatched.append(m)
        taken = set(rows) | set(names.values()) | listed
        for m in unmatched:
            uid = m.uid
            if uid in rows or uid in names.values():
                n = 2
                while f"{base}#dup{n}" in taken:
                    n += 1
                uid = f"{base}#dup{n}"
            taken.add(uid)
            names[m.handle] = uid
        return {handle: uid for handle, uid in names.items()
                if uid != next(m.uid for m in family if m.handle == handle)}

    def _by_headers(self, session, msg, candidates) -> list[str]:
        """Of rows with the copy's size, the one whose header digest it has (ties only)."""
        if not getattr(session, "checks_headers", False):
            return []
        digest = session.header_digests([msg]).get(msg.uid)
        if not digest:
            return []
        rows = dict(SeenMessage.objects.filter(account=self.account, uid__in=candidates)
                    .values_list("uid", "header_digest"))
        return [u for u in candidates if rows.get(u) == digest][:1]

    # -- which seen messages may go ---------------------------------------

    def check(self, session, listing, seen: dict[str, Stored], due) -> Check:
        """Verdicts for the listed messages with a row; `due`: those the keep policy
        would delete now. Rows that do not match are fetched, never deleted unfetched."""
        result = Check()
        changed, unsized, imported = [], [], 0
        due_uids = {m.uid for m in due}
        for m in listing:
            row = seen.get(m.uid)
            if row is None:
                continue
            if row.imported:
                imported += m.uid in due_uids
            elif row.size is not None and row.size != m.size:
                changed.append(m)
            elif row.size is None and m.uid in due_uids:
                unsized.append(m)
        for m in changed:
            self._note(f"message {m.uid}: listed with {m.size} bytes, not the "
                       f"{seen[m.uid].size} taken under this uid: another message, "
                       "fetched and never deleted unfetched")
        for m in unsized:
            self._note(f"message {m.uid}: taken before sizes were kept; fetched again to "
                       "check it is the same message before deleting it")
        if imported:
            self._note(f"{imported} message(s) recorded as taken by an import, not "
                       "downloaded here, left on the server: imported state never deletes")
        result.fetch = {m.uid for m in changed + unsized}
        verify = [m for m in due if m.uid in seen and not seen[m.uid].imported
                  and m.uid not in result.fetch]
        mismatched = self._headers_differ(session, verify)
        for m in verify:
            if m.uid in mismatched:
                self._note(f"message {m.uid}: its headers are not those taken under this "
                           "uid: another message, fetched and never deleted unfetched")
                result.fetch.add(m.uid)
            else:
                result.deletable.add(m.uid)
        result.due_fetch = result.fetch & due_uids
        result.recheck = self._recorded(result.fetch)
        self.check_result = result
        return result

    def _note(self, text: str):
        if text not in self._noted:
            self._noted.add(text)
            self.run.note(text)

    def _headers_differ(self, session, msgs) -> set[str]:
        msgs = [m for m in msgs if not m.uid.startswith(CONTENT_UID)]
        if not msgs or not getattr(session, "checks_headers", False):
            return set()
        recorded = {}
        for chunk in chunks([m.uid for m in msgs]):
            recorded.update(SeenMessage.objects.filter(account=self.account, uid__in=chunk)
                            .exclude(header_digest="").values_list("uid", "header_digest"))
        msgs = [m for m in msgs if m.uid in recorded]
        if not msgs:
            return set()
        listed = session.header_digests(msgs)
        # A TOP the server refuses leaves the size as the only check.
        return {m.uid for m in msgs if listed.get(m.uid) not in (None, recorded[m.uid])}

    def _recorded(self, uids) -> dict[str, tuple[dt.datetime, str, str]]:
        found = {}
        for chunk in chunks(sorted(uids)):
            for uid, first_seen, key, digest in SeenMessage.objects.filter(
                    account=self.account, uid__in=chunk).values_list(
                    "uid", "first_seen", "message_key", "content_digest"):
                found[uid] = (first_seen, key, digest)
        return found

    # -- a fetched message's row -------------------------------------------

    def same_content(self, msg, info) -> bool:
        """A message fetched to check its identity is the one its row recorded
        (key and content digest; key alone for rows older than digests)."""
        recorded = self.check_result.recheck.get(msg.uid)
        if recorded is None:
            return False
        _first_seen, key, digest = recorded
        return bool(key) and key == info.key and digest in (info.digest, "")

    def verified_due(self, msg, info) -> bool:
        """A message the keep policy wanted gone, fetched to check it, and found to be
        the one taken: it may go now (else a server whose TOP differs from its RETR
        would have it fetched again at every poll)."""
        return msg.uid in self.check_result.due_fetch and self.same_content(msg, info)

    def row_fields(self, session, msg, info, spool) -> dict:
        """What the group records for a settled message beyond its uid, key and digest."""
        fields = {"size": msg.size, "origin": SeenMessage.Origin.TAKEN,
                  "first_seen": timezone.now(),
                  "header_digest": (spool_header_digest(spool)
                                    if getattr(session, "checks_headers", False) else ""),
                  "replace": msg.uid in self.check_result.recheck}
        if self.same_content(msg, info):
            fields["first_seen"] = self.check_result.recheck[msg.uid][0]  # the same message
        return fields

