"""The Maildir++ quota file, `maildirsize`: what a mailbox holds without listing it.

Listing every file of every folder costs ~100 ms per delivery at 100,000
messages; Courier and Dovecot keep a running total instead, and so do we, in
the same file, so each of us sees the other's deliveries and deletions.

Format (Maildir++ quota spec): the first line is the quota definition
("10485760S", Dovecot may add ",1000C" for a message limit), every further
line "<bytes> <messages>", negative for deletions. The sum of the lines is
what the mailbox holds. A delivering agent appends its line with one
O_APPEND write; the file is counted again from the folders (and replaced
atomically, written in tmp/ and renamed) when it is missing, unreadable or
not in that format, over 5120 bytes, written for another quota, or when it
says the mailbox is full and is older than 15 minutes (a reader that does
not keep the file may have deleted mail meanwhile).

A delivery made while another process counts can be missed by the count or
counted twice (the spec accepts it): the total is an estimate that the next
count corrects, never a reason to lose mail.
"""

import os
import re
import time
from pathlib import Path

from delivery.maildir import DEFAULT_MODE, NEW_FILE, confine, usage
from popadmin.filemodes import file_mode

NAME = "maildirsize"
MAX_BYTES = 5120
# A full mailbox's file this old is counted again before refusing mail.
STALE_SECONDS = 15 * 60
_LIMIT = re.compile(rb"(\d+)([SC])")
_LINE = re.compile(rb"(-?\d+)[ \t]+(-?\d+)")
_OPEN = os.O_NOFOLLOW | os.O_CLOEXEC


def would_exceed(maildir: Path, quota: int, size: int, mode: int = DEFAULT_MODE) -> bool:
    """True when `size` more bytes would take the mailbox over `quota` bytes."""
    known = _read(maildir)
    fresh = known is not None and known["size_limit"] == quota and known["length"] <= MAX_BYTES
    if fresh and known["bytes"] + size > quota and time.time() - known["mtime"] > STALE_SECONDS:
        fresh = False
    held = known["bytes"] if fresh else recount(maildir, quota, mode, known)
    return held + size > quota


def recount(maildir: Path, quota: int, mode: int = DEFAULT_MODE, known=None) -> int:
    """Count the folders, write a new maildirsize (if the mailbox exists); the bytes held."""
    held, messages = usage(maildir)
    tmp_dir = maildir / "tmp"
    if not tmp_dir.is_dir():
        return held  # nothing delivered yet; the first delivery makes the folders
    confine(maildir, maildir)
    confine(maildir, tmp_dir)
    limits = [f"{quota}S"] if quota else []
    if known and known["count_limit"]:
        limits.append(f"{known['count_limit']}C")  # Dovecot's message limit is not ours to drop
    text = f"{','.join(limits)}\n{held} {messages}\n".encode()
    tmp = tmp_dir / f"{time.time():.6f}.P{os.getpid()}.{NAME}"
    made = False
    try:
        fd = os.open(tmp, NEW_FILE, file_mode(mode))
        made = True
        try:
            os.fchmod(fd, file_mode(mode))
            os.write(fd, text)
        finally:
            os.close(fd)
        # rename replaces the name itself, even a planted symlink, never what it points to.
        os.rename(tmp, maildir / NAME)
    except OSError:
        # The count stands; only its record failed, and the next check counts again.
        if made:
            tmp.unlink(missing_ok=True)
    return held


def record(maildir: Path, size: int, messages: int = 1):
    """Add a delivery (or, negative, a removal) to an existing maildirsize.

    No file, no line: the next quota check counts the folders. The line is one
    write(2) on an O_APPEND descriptor, so concurrent writers never interleave.
    """
    try:
        fd = os.open(maildir / NAME, os.O_WRONLY | os.O_APPEND | _OPEN)
    except OSError:
        return  # missing, or a symlink: the next check counts and replaces it
    try:
        os.write(fd, f"{size} {messages}\n".encode())
    except OSError:
        pass  # the mail is stored all the same; the count is corrected at the next recount
    finally:
        os.close(fd)


def _read(maildir: Path) -> dict | None:
    """The file's limits and totals, or None when it must be counted again."""
    try:
        fd = os.open(maildir / NAME, os.O_RDONLY | _OPEN)
    except OSError:
        return None
    try:
        stat = os.fstat(fd)
        data = os.read(fd, MAX_BYTES + 1) if stat.st_size <= MAX_BYTES else b""
    finally:
        os.close(fd)
    parsed = parse(data) if data else None
    if parsed is None:
        return None
    return {**parsed, "length": stat.st_size, "mtime": stat.st_mtime}


def parse(data: bytes) -> dict | None:
    """Limits and sums of a maildirsize's text; None if any line is not in the format.

    A last line without its newline is a write still going on (or cut short):
    not trusted either.
    """
    if not data.endswith(b"\n"):
        return None
    header, *lines = data[:-1].split(b"\n")
    limits = {"S": 0, "C": 0}
    for item in filter(None, header.strip().split(b",")):
        match = _LIMIT.fullmatch(item.strip())
        if not match:
            return None
        limits[match.group(2).decode()] = int(match.group(1))
    held = messages = 0
    for line in lines:
        match = _LINE.fullmatch(line.strip())
        if not match:
            return None
        held += int(match.group(1))
        messages += int(match.group(2))
    return {"size_limit": limits["S"], "count_limit": limits["C"],
            "bytes": held, "messages": messages}
