"""Maildir++ delivery: tmp/ → fsync → link into new/ → fsync the directory.

A message is durable (invariant 1) only when deliver() returns: the file's
data and its directory entry in new/ have both reached the disk.
"""

import os
import re
import shutil
import socket
import time
from itertools import count
from pathlib import Path
from typing import BinaryIO

_counter = count()
CHUNK = 256 * 1024
# A delivery token names "this message from this source" inside the unique
# part of the file name ("R" + 32 hex digits), so a retry after a crash can
# see that an earlier attempt already linked the file (delivered_tokens).
TOKEN = re.compile(r"[0-9a-f]{32}")
_TOKEN_IN_NAME = re.compile(r"[^.]*\.[^.]*R([0-9a-f]{32})\.")


class DeliveryError(Exception):
    """The message could not be stored; `temporary` says whether to retry later."""

    def __init__(self, message, temporary=True):
        super().__init__(message)
        self.temporary = temporary


def folder_path(maildir: Path, folder: str) -> Path:
    """Maildir++: INBOX is the root; "Work/Archive" is ".Work.Archive/"."""
    folder = (folder or "").strip().strip("/")
    if not folder or folder.upper() == "INBOX":
        return maildir
    parts = [p for p in folder.replace(".", "/").split("/") if p]
    if not parts or any(p in ("..",) or "\0" in p for p in parts):
        raise DeliveryError(f"invalid folder name {folder!r}", temporary=False)
    return maildir / ("." + ".".join(parts))


def ensure_maildir(path: Path, is_subfolder: bool):
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    if is_subfolder and not (path / "maildirfolder").exists():
        (path / "maildirfolder").touch()


def _unique_name(size: int, token: str = "") -> str:
    now = time.time()
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    tag = f"R{token}" if token else ""
    return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_counter)}{tag}.{host},S={size}"


def _fsync_dir(path: Path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def deliver(
    maildir: Path, folder: str, source: BinaryIO, size: int, prefix: bytes = b"", token: str = ""
) -> Path:
    """Copy `source` (prefixed by trace headers) into the folder; return the new file."""
    if token and not TOKEN.fullmatch(token):
        raise ValueError(f"not a delivery token: {token!r}")
    target = folder_path(maildir, folder)
    try:
        ensure_maildir(maildir, is_subfolder=False)
        if target != maildir:
            ensure_maildir(target, is_subfolder=True)
        name = _unique_name(size + len(prefix), token)
        tmp = target / "tmp" / name
        with open(tmp, "xb") as out:
            out.write(prefix)
            source.seek(0)
            shutil.copyfileobj(source, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        final = target / "new" / name
        try:
            os.link(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target / "new")
        return final
    except DeliveryError:
        raise
    except OSError as exc:
        raise DeliveryError(f"cannot write to mailbox {maildir}: {exc.strerror or exc}") from exc


def delivered_tokens(maildir: Path, folder: str) -> set[str]:
    """Tokens of the messages in the folder, in new/ or already moved to cur/ by a reader."""
    tokens = set()
    try:
        target = folder_path(maildir, folder)
        for sub in ("new", "cur"):
            if (target / sub).is_dir():
                with os.scandir(target / sub) as entries:
                    for entry in entries:
                        if match := _TOKEN_IN_NAME.match(entry.name):
                            tokens.add(match.group(1))
    except (DeliveryError, OSError):
        pass  # nothing readable there, so nothing delivered; deliver() reports the problem
    return tokens


def usage_bytes(maildir: Path) -> int:
    """Bytes used by all folders, from the S= size in file names where present."""
    total = 0
    if not maildir.exists():
        return 0
    for folder in [maildir, *(p for p in maildir.iterdir() if p.name.startswith("."))]:
        for sub in ("new", "cur"):
            directory = folder / sub
            if not directory.is_dir():
                continue
            with os.scandir(directory) as entries:
                for entry in entries:
                    total += _size_of(entry)
    return total


def _size_of(entry) -> int:
    marker = entry.name.find(",S=")
    if marker != -1:
        digits = entry.name[marker + 3 :].split(",", 1)[0].split(":", 1)[0]
        if digits.isdigit():
            return int(digits)
    try:
        return entry.stat().st_size
    except FileNotFoundError:
        return 0
