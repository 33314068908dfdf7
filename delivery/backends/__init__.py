"""Delivery backends: every destination of fetched mail, behind one contract (base.py).

BACKENDS is the registry keyed by DeliveryTarget.kind; the target looks its
backend up here instead of branching on the kind (delivery/targets.py), and
the admin's choice of kinds is built from it. A new destination is one
module here with a Backend subclass (name, label, from_target, deliver) and
one line below; `makemigrations` then records the new choice.

Pure Python, no Django: a backend gets its settings through from_target()
and a Site (delivery/targets.py fills one in from the Django settings).
"""

from .base import (
    DELIVERED,
    MAILBOX_FULL,
    PERMANENT,
    STORAGE_FULL,
    TEMPORARY,
    Backend,
    Outcome,
    PrefixFor,
    Recipient,
    Site,
    trace_headers,
)
from .imap_append import ImapAppendBackend, ImapAppendSettings
from .lmtp import LmtpBackend, LmtpSettings
from .maildir import MaildirBackend, MaildirSettings
from .smtp import SmtpBackend, SmtpSettings

BACKENDS: dict[str, type[Backend]] = {
    "maildir": MaildirBackend,
    "lmtp": LmtpBackend,
    "smtp": SmtpBackend,
    "imap": ImapAppendBackend,
}

__all__ = [
    "BACKENDS",
    "DELIVERED",
    "MAILBOX_FULL",
    "STORAGE_FULL",
    "PERMANENT",
    "TEMPORARY",
    "Backend",
    "ImapAppendBackend",
    "ImapAppendSettings",
    "LmtpBackend",
    "LmtpSettings",
    "MaildirBackend",
    "MaildirSettings",
    "Outcome",
    "PrefixFor",
    "Recipient",
    "Site",
    "SmtpBackend",
    "SmtpSettings",
    "trace_headers",
]
