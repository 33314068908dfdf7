"""What a cheap check's answer means for one account: nothing to do, or a fetch.

Pure functions over what the check saw (retrieval/protocols/quick_check.py),
the account's seen-state and, for IMAP, its folder marks. A fetch is due when
the mailbox holds a message not taken yet, or one the keep policy says to
delete now; when in doubt (the check failed, or could not tell) it is due
too, since a fetch costs only time, and a missed message costs the user.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from retrieval.models import RemoteAccount, SeenMessage


@dataclass
class Seen:
    uid: str
    first_seen: dt.datetime
    imported: bool


@dataclass
class Mark:
    """A folder's mark (models.FolderMark) as read, and what to write back."""

    uidvalidity: int | None = None
    uidnext: int | None = None
    pending_uidvalidity: int | None = None
    pending_uidnext: int | None = None
    pending_since: dt.datetime | None = None
    changed: bool = False


def deletion_due(account, seen: Seen, now) -> bool:
    """Whether the keep policy would delete this message now (engine.Retrieval.expired);
    never for seen-state an import wrote, which never deletes (identity.py)."""
    if seen.imported or account.keep_policy == RemoteAccount.Keep.KEEP:
        return False
    if account.keep_policy == RemoteAccount.Keep.DELETE:
        return True
    return seen.first_seen <= now - dt.timedelta(days=account.keep_days)


def pop3_needs_fetch(account, uids: list[str] | None, seen: dict[str, Seen], now) -> str:
    """Why a fetch is due ("" if not) from a POP3 UIDL listing."""
    if not uids:
        return ""
    if len(set(uids)) != len(uids):
        return "repeated UIDL"  # made unique by position in a session only (identity.py)
    for uid in uids:
        row = seen.get(uid)
        if row is None:
            return "new message"
        if deletion_due(account, row, now):
            return "message to delete"
    return ""


def imap_needs_fetch(account, folders: dict, marks: dict, seen: dict[str, Seen],
                     last_ok_after, now) -> str:
    """Why a fetch is due ("" if not) from each folder's STATUS, updating `marks`
    (folder -> Mark, created for folders without one).

    `last_ok_after(when)`: whether a session ended without error after `when`,
    which turns a pending mark into the folder's mark.
    """
    why = ""
    for folder, (validity, uidnext, messages) in folders.items():
        mark = marks.setdefault(folder, Mark(changed=True))
        if mark.pending_since is not None and last_ok_after(mark.pending_since):
            mark.uidvalidity, mark.uidnext = mark.pending_uidvalidity, mark.pending_uidnext
            mark.pending_uidvalidity = mark.pending_uidnext = mark.pending_since = None
            mark.changed = True
        handled = mark.uidvalidity == validity and mark.uidnext == uidnext
        if not handled and not messages:
            # An empty folder has nothing to take, whatever its numbers say.
            mark.uidvalidity, mark.uidnext, handled = validity, uidnext, True
            mark.pending_uidvalidity = mark.pending_uidnext = mark.pending_since = None
            mark.changed = True
        folder_why = ""
        if not handled:
            folder_why = ("folder renumbered" if mark.uidvalidity not in (None, validity)
                          else "new message")
        elif messages and any(uid.startswith(folder + "/") and deletion_due(account, row, now)
                              for uid, row in seen.items()):
            folder_why = "message to delete"
        if folder_why:
            if (mark.pending_uidvalidity, mark.pending_uidnext) != (validity, uidnext):
                mark.pending_uidvalidity, mark.pending_uidnext = validity, uidnext
                mark.pending_since = now
                mark.changed = True
            why = why or folder_why
    return why


def seen_by_account(account_ids) -> dict[int, dict[str, Seen]]:
    """The seen-state of these accounts, in one query."""
    found: dict[int, dict[str, Seen]] = {pk: {} for pk in account_ids}
    if not found:
        return found
    rows = SeenMessage.objects.filter(account_id__in=list(found)).values_list(
        "account_id", "uid", "first_seen", "origin")
    for pk, uid, first_seen, origin in rows:
        found[pk][uid] = Seen(uid, first_seen, origin == SeenMessage.Origin.IMPORTED)
    return found
