"""Pages of the mail list by position, not by number (keyset pagination).

A page is "the 50 messages older than (date, id)" or "the 50 newer than
(date, id)", where (date, id) is the last or first row of the page the link
was on: the list is ordered by arrival time and then id, both from an index,
so the thousandth page costs what the first does (an OFFSET would read and
throw away every row before it). A link keeps showing the same stretch of
mail while new messages arrive on top, so it can be bookmarked.

The cursor in the address is `<microseconds since 1970>_<id>`. It is only a
position: every query starts from the signed-in user's own mailbox, so a
cursor copied from someone else's page shows the reader's own mail around
that moment, never theirs. A cursor that does not parse (or names a moment no
datetime holds) means the first page.

A search looks at the next SEARCH_WINDOW messages below (or above) the cursor
at most: when fewer than a page matched there, the page shows what did, says
how far back it looked, and its "Older" link carries on from there. A search
that matches nothing therefore costs a bounded scan, not a scan of the whole
mailbox (bench/mail_page.py).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db.models import Q

PER_PAGE = 50
SLICES = (1_000, 5_000, 14_000)
SEARCH_WINDOW = sum(SLICES)
_CURSOR = re.compile(r"([0-9]{1,17})_([0-9]{1,18})")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, order=True)
class Cursor:
    created: dt.datetime
    id: int

    def __str__(self) -> str:
        delta = self.created - EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{micros}_{self.id}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        match = _CURSOR.fullmatch(text or "")
        if not match:
            return None
        try:
            created = EPOCH + dt.timedelta(microseconds=int(match.group(1)))
        except OverflowError:
            return None
        return cls(created, int(match.group(2)))

    @classmethod
    def of(cls, delivery) -> Cursor:
        return cls(delivery.created, delivery.pk)

    def just_below(self) -> Cursor:
        """The position right under this row: "newer than" it includes the row."""
        return Cursor(self.created, self.id - 1)

    def just_above(self) -> Cursor:
        """The position right over this row: "older than" it includes the row."""
        return Cursor(self.created, self.id + 1)


START = Cursor(EPOCH, 0)  # below every message: "newer than START" is the oldest page


def older_than(c: Cursor) -> Q:
    # created <= c first: the index's bound; the rest picks the rows of equal time.
    return Q(created__lte=c.created) & (Q(created__lt=c.created) | Q(id__lt=c.id))


def newer_than(c: Cursor) -> Q:
    return Q(created__gte=c.created) & (Q(created__gt=c.created) | Q(id__gt=c.id))


@dataclass
class ListPage:
    object_list: list
    newer: Cursor | None  # the "Newer" link's cursor; None on the first page
    older: Cursor | None  # the "Older" link's cursor; None when nothing is older
    searched_to: Cursor | None = None  # a search that stopped at its window's edge
    oldest: bool = False  # the oldest page ("Oldest" needs no link)

    @property
    def is_first(self) -> bool:
        return self.newer is None

    @property
    def has_other_pages(self) -> bool:
        return self.newer is not None or self.older is not None


def _run(rows, searched, cursor: Cursor | None, downwards: bool):
    """Up to PER_PAGE + 1 rows past the cursor, in walking order, and where a
    search stopped (None when it saw every row that way or filled the page)."""
    if downwards:
        order, beyond = ("-created", "-id"), older_than
    else:
        order, beyond = ("created", "id"), newer_than
    if searched is rows:
        rows = rows.filter(beyond(cursor)) if cursor is not None else rows
        return list(rows.order_by(*order)[:PER_PAGE + 1]), None
    # A search reads the window in growing slices, each bounded by its last
    # row: a common word fills the page from the first slice, a rare one
    # costs SEARCH_WINDOW rows at most. (One query over the whole window is
    # planned as "filter all of it, then sort": the cost of a rare word always.)
    found: list = []
    start = cursor
    for size in SLICES:
        part = rows.filter(beyond(start)) if start is not None else rows
        hits = searched.filter(beyond(start)) if start is not None else searched
        last = part.order_by(*order).values_list("created", "id")[size - 1:size]
        edge = Cursor(*last[0]) if last else None
        if edge is not None:  # up to the slice's last row, that row included
            hits = hits.filter(older_than(edge.just_above()) if not downwards
                               else newer_than(edge.just_below()))
        found += hits.order_by(*order)[:PER_PAGE + 1 - len(found)]
        if edge is None or len(found) > PER_PAGE:
            return found, None
        start = edge
    return found, start


def page_of(rows, searched, *, older: Cursor | None = None, newer: Cursor | None = None,
            ) -> ListPage:
    """`rows`: the filtered list without the search; `searched`: with it (the
    same queryset object when there is no search)."""
    if newer is not None:
        found, edge = _run(rows, searched, newer, downwards=False)
        if len(found) > PER_PAGE or edge is not None:
            shown = found[:PER_PAGE][::-1]
            top = Cursor.of(shown[0]) if shown else edge
            older_link = (Cursor.of(shown[-1]) if shown else newer.just_below()) \
                if newer != START else None
            return ListPage(shown, top, older_link,
                            searched_to=edge if len(found) <= PER_PAGE else None,
                            oldest=newer == START)
        older = None  # the newest messages: that is the first page
    found, edge = _run(rows, searched, older, downwards=True)
    shown = found[:PER_PAGE]
    if len(found) > PER_PAGE:
        next_older = Cursor.of(shown[-1])
    else:
        next_older = edge  # None: nothing older
    newer_link = None
    if older is not None:
        newer_link = Cursor.of(shown[0]) if shown else older.just_below()
    return ListPage(shown, newer_link, next_older,
                    searched_to=edge if len(found) <= PER_PAGE else None,
                    oldest=next_older is None and older is not None)
