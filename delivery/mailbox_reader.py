"""Reading a user's own Maildir for the mail page: folders, unread counts, one
message's bytes, and marking a message seen the Maildir way.

The mailbox is always mailbox_dir(MAIL_ROOT, address) of the signed-in user's
Mailbox (the caller passes that Mailbox, never a path). A message is found by
the delivery token its file name carries ("R" + 32 hex digits, see
delivery/maildir.py), in the folder's new/ or cur/. Nothing here follows a
symbolic link: the folder is checked to resolve inside the mailbox, new/ and
cur/ are opened with O_NOFOLLOW, and files are opened and renamed relative to
those descriptors, so a link planted in the mailbox never leads the page to a
file outside it.

Seen is what every IMAP server reading the same Maildir agrees on: a message
in new/ is unseen; opening it moves it to cur/ with the info ":2,S", and a
message already in cur/ gets "S" added to its flags (kept sorted, as the
Maildir spec asks).
"""

from __future__ import annotations

import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from delivery.maildir import DeliveryError, confine, folder_path, mailbox_dir

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)
_TOKEN = re.compile(r"[^.]*\.[^.]*R([0-9a-f]{32})\.")
INFO = ":2,"

# Listing a folder of 100,000 files costs tens of milliseconds: a listing is
# kept while the directory's change time stays the same (an IMAP client
# moving a file changes it), per process.
_cache: dict[tuple[str, str], Listing] = {}
_cache_lock = threading.Lock()
_CACHE_FOLDERS = 256


@dataclass(frozen=True)
class Entry:
    sub: str  # "new" or "cur"
    name: str

    @property
    def seen(self) -> bool:
        return self.sub == "cur" and "S" in flags(self.name)


def flags(name: str) -> str:
    marker = name.rfind(INFO)
    return name[marker + len(INFO):] if marker != -1 else ""


def with_seen(name: str) -> str:
    """The file name with the Seen flag added (flags sorted, as the spec asks)."""
    marker = name.rfind(INFO)
    base = name[:marker] if marker != -1 else name
    return base + INFO + "".join(sorted(set(flags(name)) | {"S"}))


def without_seen(name: str) -> str:
    marker = name.rfind(INFO)
    if marker == -1:
        return name + INFO
    return name[:marker] + INFO + flags(name).replace("S", "")


@dataclass(frozen=True)
class Listing:
    stamp: tuple  # new/ and cur/ as they were listed (inode, times)
    entries: dict[str, Entry]  # token -> file
    unread: frozenset[str]  # tokens


EMPTY = Listing((), {}, frozenset())


@dataclass(frozen=True)
class FolderCount:
    name: str  # "" is INBOX; "Work/Reports" for ".Work.Reports"
    total: int
    unread: int


class MailboxReader:
    """One user's Maildir, read-only except for the Seen flag."""

    def __init__(self, mail_root: Path, address: str):
        self.root = mailbox_dir(mail_root, address)

    def _folder_dir(self, folder: str) -> Path:
        target = folder_path(self.root, folder or "")
        confine(self.root, target)
        return target

    def _open_dir(self, path: Path) -> int:
        return os.open(path, _DIR_FLAGS)

    def index(self, folder: str, fresh: bool = False) -> dict[str, Entry]:
        """token -> where its file is, for the folder's new/ and cur/."""
        return self.listing(folder, fresh).entries

    def listing(self, folder: str, fresh: bool = False) -> Listing:
        try:
            base = self._folder_dir(folder)
        except DeliveryError:
            return EMPTY
        key = (str(self.root), folder or "")
        stamps, fds = [], {}
        try:
            for sub in ("new", "cur"):
                try:
                    fds[sub] = self._open_dir(base / sub)
                except OSError:
                    continue  # not there (nothing delivered yet) or a link: nothing to read
                st = os.fstat(fds[sub])
                stamps.append((sub, st.st_ino, st.st_mtime_ns, st.st_ctime_ns))
            stamp = tuple(stamps)
            with _cache_lock:
                cached = _cache.get(key)
            if cached is not None and cached.stamp == stamp and not fresh:
                return cached
            found: dict[str, Entry] = {}
            for sub, fd in fds.items():
                for name in os.listdir(fd):
                    if match := _TOKEN.match(name):
                        found[match.group(1)] = Entry(sub, name)
        finally:
            for fd in fds.values():
                os.close(fd)
        listed = Listing(stamp, found, frozenset(t for t, e in found.items() if not e.seen))
        with _cache_lock:
            if len(_cache) >= _CACHE_FOLDERS:
                _cache.clear()
            _cache[key] = listed
        return listed

    def folders(self) -> list[FolderCount]:
        """INBOX and every Maildir++ folder (".A.B", not a link), with counts."""
        names = [""]
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if (entry.name.startswith(".") and entry.name not in (".", "..")
                            and entry.is_dir(follow_symlinks=False)):
                        names.append(entry.name[1:].replace(".", "/"))
        except OSError:
            return [FolderCount("", 0, 0)]
        counts = []
        for name in sorted(names, key=lambda n: (n != "", n.lower())):
            listed = self.listing(name)
            counts.append(FolderCount(name, len(listed.entries), len(listed.unread)))
        return counts

    def unread_tokens(self, folder: str) -> frozenset[str]:
        return self.listing(folder).unread

    def locate(self, folder: str, token: str) -> Entry | None:
        if not token:
            return None
        # Two changes within one tick of the directory's clock leave its
        # time unchanged: a token not in the kept listing is looked for again.
        return self.index(folder).get(token) or self.index(folder, fresh=True).get(token)

    def open(self, folder: str, token: str):
        """The message's file, opened read-only without following links; None if gone."""
        for _attempt in range(2):  # an IMAP client may move it between listing and open
            entry = self.locate(folder, token)
            if entry is None:
                return None
            try:
                dir_fd = self._open_dir(self._folder_dir(folder) / entry.sub)
            except (OSError, DeliveryError):
                return None
            try:
                fd = os.open(entry.name, _FILE_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:
                _forget(self.root, folder)
                continue
            except OSError:
                return None  # a link or something unreadable: never followed
            finally:
                os.close(dir_fd)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)  # a FIFO or device planted under a message's name: never read
                return None
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        return None

    def set_seen(self, folder: str, token: str, seen: bool = True) -> bool:
        """Move the message to cur/ with "S" added (or removed); False if it is gone."""
        for _attempt in range(2):
            entry = self.locate(folder, token)
            if entry is None:
                return False
            if entry.seen == seen and (entry.sub == "cur" or not seen):
                return True  # already so (unread in new/ stays there)
            new_name = with_seen(entry.name) if seen else without_seen(entry.name)
            base = self._folder_dir(folder)
            try:
                src = self._open_dir(base / entry.sub)
                try:
                    dst = self._open_dir(base / "cur")
                except OSError:
                    os.close(src)
                    raise
            except OSError:
                return False
            try:
                os.rename(entry.name, new_name, src_dir_fd=src, dst_dir_fd=dst)
                os.fsync(dst)
            except FileNotFoundError:
                _forget(self.root, folder)
                continue
            except OSError:
                return False
            finally:
                os.close(src)
                os.close(dst)
            _forget(self.root, folder)
            return True
        return False


def _forget(root: Path, folder: str):
    with _cache_lock:
        _cache.pop((str(root), folder or ""), None)
