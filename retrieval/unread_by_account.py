"""Unread messages per remote account, for the mail page's side panel.

Unread is the Maildir's state (a file in new/, or without the S flag), which
IMAP clients change without telling the database, so no counter kept in the
database could stay exact. What the database knows is which account each
delivered file came from (its token). The counts join the two:

- up to IN_QUERY_LIMIT unread messages: one query for their tokens;
- more: each process keeps, per mailbox, the map token -> account of the
  mailbox's delivered records. A request checks the map against the records
  with one index-only aggregate (how many, the newest id), reads only the
  records added since when more were added, and builds the map again only
  when records went away (history pruning). The counts are then a lookup per
  unread token, kept until the unread set changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from django.db.models import Count, Max

IN_QUERY_LIMIT = 1000
MAILDIR = "maildir"
_KEPT_MAILBOXES = 8  # a map of 100,000 tokens is about 15 MB


@dataclass
class _Map:
    signature: tuple  # (records, newest id) of the mailbox's delivered records
    accounts: dict[str, int | None] = field(default_factory=dict)  # token -> account id
    unread: frozenset = frozenset()
    counts: dict = field(default_factory=dict)


_maps: OrderedDict[int, _Map] = OrderedDict()
_lock = threading.Lock()


def signature(delivered) -> tuple[int, int]:
    """(how many, newest id) of the delivered records: one index-only scan."""
    found = delivered.aggregate(n=Count("id"), top=Max("id"))
    return found["n"], found["top"] or 0


def _pairs(delivered):
    return (delivered.filter(backend=MAILDIR).exclude(token="")
            .values_list("token", "run__account_id"))


def counts(mailbox_pk: int, delivered, unread: frozenset, known: tuple | None = None) -> dict:
    """account id -> unread messages collected from it. `delivered`: the
    mailbox's delivered records; `known`: their signature() when the caller
    already has it."""
    if not unread:
        return {}
    if len(unread) <= IN_QUERY_LIMIT:
        counted = (delivered.filter(backend=MAILDIR, token__in=unread)
                   .values("run__account_id").annotate(n=Count("id")))
        return {r["run__account_id"]: r["n"] for r in counted}
    now = known or signature(delivered)
    with _lock:
        kept = _maps.get(mailbox_pk)
    if kept is None or kept.signature != now:
        kept = _refreshed(kept, delivered, now)
    if kept.unread is not unread and kept.unread != unread:
        tally: dict = {}
        accounts = kept.accounts
        for token in unread:
            if token in accounts:
                account = accounts[token]
                tally[account] = tally.get(account, 0) + 1
        kept.unread, kept.counts = unread, tally
    with _lock:
        _maps[mailbox_pk] = kept
        _maps.move_to_end(mailbox_pk)
        while len(_maps) > _KEPT_MAILBOXES:
            _maps.popitem(last=False)
    return dict(kept.counts)


def _refreshed(kept: _Map | None, delivered, now: tuple) -> _Map:
    if kept is not None and kept.signature[1] <= now[1]:
        since = delivered.filter(id__gt=kept.signature[1], id__lte=now[1])
        # Only additions since: the records now are the kept ones plus these.
        if kept.signature[0] + since.count() == now[0]:
            accounts = dict(kept.accounts)
            accounts.update(_pairs(since))
            return _Map(now, accounts)
    return _Map(now, dict(_pairs(delivered.filter(id__lte=now[1]))))
