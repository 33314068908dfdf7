"""One digest of a message's header block, the same whoever reads it.

POP3's `TOP n 0` sends the headers (with CRLF, dot-stuffing undone by the
client); a fetched copy waits in the spool with LF line ends. Both hash to the
same value: each line without its line end, up to the first empty line.
retrieval/identity.py compares the two before deleting a message it did not
fetch in the same session.
"""

import hashlib
from collections.abc import Iterable

HEADER_LIMIT = 1024 * 1024  # as delivery.message: headers beyond this are not read


def header_digest(lines: Iterable[bytes]) -> str:
    """SHA-256 of a header block given line by line (with or without line ends).

    The iterable is read to its end (a POP3 answer must be), past the block."""
    digest = hashlib.sha256()
    total, done = 0, False
    for raw in lines:
        if done:
            continue
        line = raw.rstrip(b"\r\n")
        total += len(line) + 1
        if not line or total > HEADER_LIMIT:
            done = True
            continue
        digest.update(line + b"\n")
    return digest.hexdigest()
