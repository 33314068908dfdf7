"""The one contract every delivery destination implements (Maildir, LMTP, SMTP, ...).

A backend takes one spooled message (LF line endings) and the recipients of
its target, and says per recipient whether the message is now durably
someone else's responsibility. Only "delivered" lets the engine delete the
message remotely (invariant "No loss"): for Maildir that means the file and
its directory entry are fsync'd, for LMTP/SMTP a 2xx reply that covers that
recipient, never an assumption.

Backends are plain Python (no Django). The registry in __init__.py maps a
DeliveryTarget kind to its backend class; `from_target` builds one from a
target row (None: the built-in Maildir) and the installation's Site
settings. delivery/router.py treats every backend the same way: it asks
`already_delivered` per recipient (a copy an interrupted session stored),
then hands the rest to `deliver` in one call per target.

Trace headers. `prefix_for(address)` returns the bytes (LF endings) to put
in front of the message for that recipient's own copy: trace_headers() with
the recipient, i.e. Received "for <address>" + Delivered-To. A backend that
writes one copy per recipient (Maildir) calls prefix_for(address). LMTP and
SMTP send ONE copy for all recipients of a transaction (RFC 2033 section
4.2, RFC 5321), so a per-recipient Delivered-To cannot exist there; they
call prefix_for(None) exactly once and get headers common to every
recipient: a Received line without "for <...>" (naming one recipient would
disclose it to the others) and no Delivered-To, which the final delivery
agent (Dovecot's LMTP, the smarthost's local delivery) adds itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import BinaryIO

from popadmin.net.text import printable

DELIVERED, TEMPORARY, PERMANENT = "delivered", "temporary", "permanent"
# What a failed copy was about, beyond its words; the account keeps it (its
# last error's kind), so lists and alerts never have to read the text.
MAILBOX_FULL = "mailbox_full"  # Outcome.mailbox_full
STORAGE_FULL = "storage"  # Outcome.storage_full

# prefix_for(address) -> trace headers for that recipient's own copy;
# prefix_for(None) -> trace headers shared by all recipients of one transaction.
PrefixFor = Callable[[str | None], bytes]


@dataclass(frozen=True)
class Recipient:
    """One local mailbox a backend delivers to."""

    address: str  # the mailbox's full address; a backend may send another form (local part)
    quota: int = 0  # bytes the mailbox may hold, enforced where we store the mail; 0: none


@dataclass(frozen=True)
class Outcome:
    recipient: str  # as the destination knows it: the RCPT TO form, or the Maildir's address
    status: str  # "delivered" | "temporary" | "permanent"
    detail: str  # what happened, in plain words, e.g. "452 4.2.2 Mailbox is full"
    mailbox_full: bool = False  # the recipient's mailbox is over quota
    # The local storage refuses every write (disk full, read-only, ...): no other
    # message can be stored there either, so the run stops downloading.
    storage_full: bool = False
    remote_id: str = ""  # where the destination put it, when it says (IMAP APPENDUID)


@dataclass(frozen=True)
class Site:
    """Installation settings a backend may need; the Django side fills it in."""

    mail_root: Path = Path("/var/mail/popadmin")
    maildir_mode: int = 0o700  # folders; files get the same bits without x
    maildir_sync: str = "file"  # how a group of Maildir copies is made durable
    ca_file: str | None = None  # extra trusted CAs for TLS, on top of the system store


class Backend(ABC):
    name: str  # the kind it is registered under; Delivery.backend says it too
    label: str  # the kind as the admin offers it

    @classmethod
    @abstractmethod
    def from_target(cls, target, site: Site) -> Backend:
        """The backend for a DeliveryTarget row of this kind (None: no target at all)."""

    @classmethod
    def target_problems(cls, target) -> dict[str, str]:
        """What a target of this kind lacks, by field name ("__all__": the target as a whole)."""
        return {}

    # Whether already_delivered() can find a copy an interrupted session stored.
    # When it cannot (LMTP, SMTP), the Delivery rows are the only memory of a
    # copy, so the engine records them at once instead of with its group.
    can_find_copies = False

    def already_delivered(self, recipient: Recipient, folder: str, token: str) -> bool:
        """Whether an earlier, interrupted session already stored this message (`token`).

        Only a backend that can look (Maildir reads its own file names) says
        yes; a server cannot be asked, so the Delivery rows have to do there.
        """
        return False

    def flush(self) -> None:  # noqa: B027  (most backends are durable call by call)
        """Make durable what deliver() left to be made durable together (Maildir:
        the directories new copies were linked into). The engine calls it before
        it records a group of copies, so before anything is deleted at the source."""

    def close(self) -> None:  # noqa: B027  (most backends keep nothing open)
        """Let go of what the backend kept for the run (an IMAP connection); the Router
        calls it when the run ends."""

    @abstractmethod
    def deliver(
        self,
        spool: BinaryIO,
        size: int,
        sender: str,
        recipients: Sequence[Recipient],
        prefix_for: PrefixFor,
        *,
        folder: str = "",
        token: str = "",
        seen: bool = False,
    ) -> list[Outcome]:
        """Deliver one message; one Outcome per recipient, in the order given.

        `spool` holds the message with LF endings (read from offset 0, in
        chunks); `size` is its length in bytes (Maildir's S=; LMTP and SMTP
        measure the CRLF size for SIZE= themselves); `sender` is the envelope
        sender ("" or "<>" for the null sender). `folder` is where in the
        mailbox ("" or INBOX: the inbox; LMTP/SMTP leave it to the server),
        `token` (32 hex digits, or "") names this message from this source so
        already_delivered() can recognise it later. `seen`: the source had
        flagged it \\Seen (IMAP); a backend that stores flags keeps it (IMAP
        APPEND), the others ignore it. Never raises for a
        mailbox, server or network problem: those become "temporary" or
        "permanent" outcomes with a reason.

        A "delivered" copy is durable and in place once flush() has returned
        (Maildir makes a group durable at once; the others already are).
        """


def trace_headers(
    source: str, recipient: str | None = None, *, by: str = "popadmin",
    when: datetime | None = None,
) -> bytes:
    """Received (+ Delivered-To for one recipient's own copy): where this copy came from.

    Delivery/recipients.py recognises both lines of a recipient's copy as
    ours (loop protection), so their shape must not change.
    """
    stamp = format_datetime(when or datetime.now(UTC))
    where = f"from {printable(source, 200)}\n\tby {printable(by, 100)}"
    if recipient is None:
        return f"Received: {where}; {stamp}\n".encode("ascii")
    address = "".join(c if c.isprintable() and c not in "<>" else "?" for c in recipient)
    text = f"Received: {where} for <{address}>; {stamp}\nDelivered-To: {address}\n"
    return text.encode("utf-8", "replace")
