"""Delivery backends: where a fetched message goes (Maildir, LMTP, SMTP relay).

Pure Python, no Django: the engine builds a backend from its settings model
and calls deliver(); see base.py for the contract and the trace-header rule.
"""

from .base import (
    DELIVERED,
    PERMANENT,
    TEMPORARY,
    Backend,
    Outcome,
    PrefixFor,
    received_header,
)
from .lmtp import LmtpBackend, LmtpSettings
from .smtp import SmtpBackend, SmtpSettings

__all__ = [
    "DELIVERED",
    "PERMANENT",
    "TEMPORARY",
    "Backend",
    "LmtpBackend",
    "LmtpSettings",
    "Outcome",
    "PrefixFor",
    "SmtpBackend",
    "SmtpSettings",
    "received_header",
]
