"""Duplicate check: within a session, and against recent deliveries.

A message is a duplicate for a mailbox only when both its key (Message-ID)
and its content digest match a copy already delivered there. The same
Message-ID with other content is a clash: it is delivered and the run says
so, because dropping it would let a forged message that arrived first
delete the genuine one at the source.
"""

import datetime as dt
import enum

from django.utils import timezone

# How far back a delivery to the same mailbox counts as "already here".
RECENT = dt.timedelta(days=30)


class Verdict(enum.Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    CLASH = "clash"  # same Message-ID as an earlier message, different content


class DuplicateFilter:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._session: dict[tuple[int, str], set[str]] = {}

    def check(self, mailbox_id: int, info, stored: set[str]) -> Verdict:
        """What `info` (a delivery.message.MessageInfo) is for this mailbox.

        `stored`: digests of the mailbox's recent copies with the same key
        (since()), as the Router reads them in its one query per message
        (history.earlier_copies)."""
        if not self.enabled:
            return Verdict.NEW
        digests = set(self._session.get((mailbox_id, info.key), ())) | stored
        return verdict(info.digest, digests)

    def remember(self, mailbox_id: int, info):
        self._session.setdefault((mailbox_id, info.key), set()).add(info.digest)


def since():
    """The oldest delivery that still counts as "already here"."""
    return timezone.now() - RECENT


def verdict(digest: str, known: set[str]) -> Verdict:
    """`known`: digests of the copies with the same key; "" for rows without one."""
    if digest and digest in known:
        return Verdict.DUPLICATE
    # Rows from before digests were kept prove nothing about the content: the
    # message is delivered (a possible second copy, never a lost one).
    return Verdict.CLASH if known - {""} else Verdict.NEW
