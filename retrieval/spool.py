"""Where a message waits between its download and its delivery.

One spool serves a whole run, emptied before each message: creating and
removing a file per message cost more than reading it. A message of up to
IN_MEMORY bytes stays in memory. On disk, the writes, reads and truncation of
an 8 KB message cost about 60 µs of system time, as much as all of the
engine's own work on it (bench/imap_vs_mbsync.py). A larger message moves to
a file in SPOOL_DIR as it grows, so a worker's memory stays bounded
(bench/memory_100mb.py), and the next message starts in memory again.
"""

import tempfile

IN_MEMORY = 256 * 1024  # bytes


def emptied(current, directory):
    """`current` emptied for the next message, or a fresh spool when there is
    none or the last message moved it to disk. `directory()` gives SPOOL_DIR."""
    if current is not None and current.seek(0, 2) > IN_MEMORY:
        current.close()
        current = None
    if current is None:
        current = tempfile.SpooledTemporaryFile(IN_MEMORY, dir=directory())
    current.seek(0)
    current.truncate()
    return current
