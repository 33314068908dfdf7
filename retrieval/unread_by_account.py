"""Unread messages per remote account, for the mail page's side panel.

Unread is the Maildir's state (a file in new/, or without the S flag), which
IMAP clients change without telling the database, so no counter kept in the
database could stay exact. What the database knows is which account each
delivered file came from (its token). The counts join the two:

- up to IN_QUERY_LIMIT unread messages: one query for their tokens;
- more: each process keeps, per mailbox, the map token -> account of the
  mailbox's delivered records, and the counts until the Maildir's unread
  sets change. Records are only ever added, except by history pruning
  (retrieval/retention.py), which bumps a generation in the shared cache
  after each batch it deletes. A request asks for the newest record id (one
  index lookup) and the generation: new records are read and added to the
  map; a new generation (or none in the cache: it was lost) builds the map
  again. Every CHECK_SECONDS a kept map is also checked against the records
  with an index-only count, so rows removed some other way are caught too.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count

IN_QUERY_LIMIT = 1000
CHECK_SECONDS = 60
MAILDIR = "maildir"
GENERATION_KEY = "mail-page:deliveries-pruned"
_KEPT_MAILBOXES = 8  # a map of 100,000 tokens is about 15 MB


@dataclass
class _Map:
    generation: str
    top: int  # the newest record id read into the map
    records: int  # delivered records up to `top`, all destinations
    checked: float  # time.monotonic() of the last count check (or build)
    accounts: dict[str, int | None] = field(default_factory=dict)  # token -> account id
    unread: tuple = ()  # the unread sets the counts are of
    counts: dict = field(default_factory=dict)


_maps: OrderedDict[int, _Map] = OrderedDict()
_lock = threading.Lock()


def records_pruned():
    """Called after deleting delivery records: every kept map is built again."""
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def _generation() -> str:
    found = cache.get(GENERATION_KEY)
    if found is None:  # never set, or the cache lost it: a new one, so maps are rebuilt
        cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        found = cache.get(GENERATION_KEY) or ""
    return found


def newest(delivered) -> int:
    return delivered.order_by("-id").values_list("id", flat=True).first() or 0


def _pairs(delivered):
    return (delivered.filter(backend=MAILDIR).exclude(token="")
            .values_list("token", "run__account_id"))


def counts(mailbox_pk: int, delivered, unread: tuple[frozenset, ...],
           top: int | None = None) -> dict:
    """account id -> unread messages collected from it. `delivered`: the
    mailbox's delivered records; `unread`: the unread tokens of each folder
    (the Maildir listing's own sets, the same objects while a folder is
    unchanged); `top`: newest(delivered) when the caller has it."""
    total = sum(len(s) for s in unread)
    if not total:
        return {}
    if total <= IN_QUERY_LIMIT:
        tokens = frozenset().union(*unread)
        counted = (delivered.filter(backend=MAILDIR, token__in=tokens)
                   .values("run__account_id").annotate(n=Count("id")))
        return {r["run__account_id"]: r["n"] for r in counted}
    top = newest(delivered) if top is None else top
    generation = _generation()
    with _lock:
        kept = _maps.get(mailbox_pk)
    if kept is not None and kept.generation == generation and kept.top <= top:
        if time.monotonic() - kept.checked > CHECK_SECONDS:
            kept = _checked(kept, delivered)
        if kept is not None and kept.top < top:
            since = delivered.filter(id__gt=kept.top, id__lte=top)
            accounts = dict(kept.accounts)
            accounts.update(_pairs(since))
            kept = _Map(generation, top, kept.records + since.count(), kept.checked, accounts)
    else:
        kept = None
    if kept is None:
        upto = delivered.filter(id__lte=top)
        kept = _Map(generation, top, upto.count(), time.monotonic(), dict(_pairs(upto)))
    if len(kept.unread) != len(unread) or any(
            a is not b for a, b in zip(kept.unread, unread, strict=True)):
        tally: dict = {}
        accounts = kept.accounts
        for tokens in unread:
            for token in tokens:
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


def _checked(kept: _Map, delivered) -> _Map | None:
    """The kept map if the records up to its newest are all still there."""
    if delivered.filter(id__lte=kept.top).count() != kept.records:  # index-only
        return None
    kept.checked = time.monotonic()
    return kept
