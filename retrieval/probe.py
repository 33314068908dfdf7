"""Test connection: connect, log in, list, change nothing.

Shared by the admin's "Test connection" button, the check after saving an
account, and the user's self-service "test before saving". It never fetches,
deletes or records seen-state, and never raises: the result says what
happened in plain words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from popadmin.net.errors import ProtocolError
from popadmin.secrets import SecretError
from retrieval.sessions import connected_session

# A probe is interactive: someone waits for it in a browser.
PROBE_TIMEOUT = 15.0


@dataclass
class ProbeResult:
    ok: bool
    message_count: int | None = None
    total_bytes: int | None = None
    capabilities: list[str] = field(default_factory=list)
    error: str = ""
    error_kind: str = ""  # the ProtocolError subclass name: ConnectError, AuthError, TLSError …
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.ok:
            return self.error
        size = f", {self.total_bytes:,} bytes" if self.total_bytes is not None else ""
        return f"connected and logged in: {self.message_count} message(s){size} waiting"


def probe_account(account, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """Connect to the account's server and log in; report, change nothing."""
    started = time.monotonic()
    result = ProbeResult(ok=False)
    try:
        session = connected_session(account, timeout)
    except (ProtocolError, SecretError) as exc:
        result.error, result.error_kind = str(exc), type(exc).__name__
        result.seconds = time.monotonic() - started
        return result
    try:
        messages = session.list_messages()
        result.ok = True
        result.message_count = len(messages)
        result.total_bytes = sum(m.size for m in messages)
        result.capabilities = _capabilities(session)
    except ProtocolError as exc:
        result.error, result.error_kind = str(exc), type(exc).__name__
    finally:
        # close(), never commit(): nothing the probe touched becomes permanent.
        session.close()
        result.seconds = time.monotonic() - started
    return result


def _capabilities(session) -> list[str]:
    caps = getattr(session, "capabilities", None) or ()
    if isinstance(caps, dict):  # POP3 CAPA: name -> arguments
        return sorted(" ".join([name, *args]) for name, args in caps.items())
    return sorted(caps)
