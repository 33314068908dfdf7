"""Old copies left in a Maildir folder's tmp/ are removed, the Maildir way.

A copy lives in tmp/ only between its write and its link into new/ (or its
removal when the write fails). A worker killed in between, or a database
that went away before the copy was linked, leaves it there for ever, using
the disk and the mailbox's space. The Maildir specification's rule: a file
in tmp/ untouched for 36 hours is nobody's work in progress and may go.
Here "untouched" means its data, its inode and its last read are all older
than that (Dovecot's test), so a copy being written now is never touched.

The look costs one directory listing, so it is made when a session opens
the folder for writing, and at most once per CLEAN_EVERY per folder in one
process (a worker delivering thousands of messages into one folder lists
its tmp/ once an hour, not once a message).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

STALE_AFTER = 36 * 3600  # seconds untouched (the Maildir specification's figure)
CLEAN_EVERY = 3600  # seconds between two looks at the same tmp/ in one process
REMEMBERED = 10_000  # folders remembered before the looks that are due again are dropped

_looked: dict[tuple[int, int], float] = {}  # (device, inode) of a tmp/ -> monotonic time
_lock = threading.Lock()


def clean_if_due(tmp_fd: int, where: Path, now: float | None = None) -> int:
    """Remove stale copies from the tmp/ held by `tmp_fd`, unless this process looked
    at it less than CLEAN_EVERY ago; returns how many were removed. Never raises:
    a failed cleanup must not fail the delivery that opened the folder."""
    try:
        held = os.fstat(tmp_fd)
    except OSError:
        return 0
    key = (held.st_dev, held.st_ino)
    clock = time.monotonic()
    with _lock:
        last = _looked.get(key)
        if last is not None and clock - last < CLEAN_EVERY:
            return 0
        if len(_looked) >= REMEMBERED:
            # A catch-all worker meets many mailboxes: forget the looks that are due again.
            for folder, when in list(_looked.items()):
                if clock - when >= CLEAN_EVERY:
                    del _looked[folder]
        _looked[key] = clock
    try:
        return remove_stale(tmp_fd, now)
    except OSError as exc:
        log.warning("cannot clean old copies in %s: %s", where, exc.strerror or exc)
        return 0


def remove_stale(tmp_fd: int, now: float | None = None) -> int:
    """Remove every entry of the tmp/ held by `tmp_fd` (not a directory) whose
    modification, change and access times are all over STALE_AFTER old."""
    cutoff = (time.time() if now is None else now) - STALE_AFTER
    removed = 0
    with os.scandir(tmp_fd) as entries:
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    continue
                if max(info.st_mtime, info.st_ctime, info.st_atime) >= cutoff:
                    continue
                os.unlink(entry.name, dir_fd=tmp_fd)
                removed += 1
            except FileNotFoundError:
                continue  # removed by someone else meanwhile
    if removed:
        log.info("removed %d copies older than 36 hours from a Maildir tmp/", removed)
    return removed
