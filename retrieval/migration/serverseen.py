"""fetchmail's IMAP memory is the server's \\Seen flag: read it into seen-state at import.

fetchmail records no IMAP uids (.fetchids holds POP3 UIDLs only): it takes
the unseen messages and, with `keep`, leaves them on the server flagged
\\Seen. Unless those are recorded as taken, popadmin would deliver them all
once more. \\Seen also means "read in webmail or on a phone", so the rows
are imported ones: they stop a redelivery and never allow a deletion
(retrieval/identity.py). A server that cannot be read does not stop the
import: the account comes in with a note saying its old mail will be taken
again.
"""

from popadmin.net.errors import ProtocolError
from popadmin.secrets import SecretError
from retrieval.sessions import session_for

from .placement import unsaved_account

# Someone may be waiting in a browser (the admin's Import page).
TIMEOUT = 15.0
AGAIN = "messages left on the server are taken once more"


def needs_server_seen(c):
    return not c.refused and c.protocol == "imap" and c.keep != "delete"


def attach_server_seen(candidates, enabled=True, timeout=TIMEOUT):
    """Add the \\Seen messages of each IMAP `keep` candidate to its seen-state."""
    for c in candidates:
        if not needs_server_seen(c):
            continue
        if not enabled:
            c.note(f"fetchmail keeps no IMAP state (it uses the server's \\Seen flag) and "
                   f"reading the flags was turned off: {AGAIN}")
            continue
        try:
            uids = read_seen(c, timeout)
        except (ProtocolError, SecretError) as e:
            c.note(f"could not read the \\Seen flags from the server ({e}): {AGAIN}; "
                   "import again once the server answers to avoid that")
            continue
        c.seen = list(dict.fromkeys([*c.seen, *uids]))
        c.note(f"{len(uids)} message(s) flagged \\Seen on the server recorded as taken "
               "by fetchmail: only unseen mail is fetched, and the \\Seen messages are "
               "never deleted by popadmin (they stay on the server until removed there)")


def read_seen(c, timeout=TIMEOUT):
    session = session_for(unsaved_account(c, "imap"), timeout)
    try:
        session.connect()
        return session.seen_uids()
    finally:
        # close(), never commit(): reading the flags changes nothing there.
        session.close()
