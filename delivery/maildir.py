"""Maildir++ mailboxes: where they are, their folders, what they hold.

Writing goes tmp/ → fsync → link into new/ → fsync the directory
(delivery/maildir_folder.py). A message is durable (invariant "No loss")
only when its data and its directory entry in new/ have both reached the
disk. A caller delivering a group of copies does the same steps for the
whole group (delivery/backends/maildir.py): stage() each copy into tmp/,
make the data durable (one syncfs per filesystem, or an fsync per file),
publish() them all into new/, then make the links durable, before anything
relies on them. No copy is ever visible in new/ before its data is on disk.

Every write stays inside MAIL_ROOT/<domain>/<localpart>/: the address is
checked again here (a row may predate the address validator), and the folder
is resolved, symlinks included, before anything is created or written.
Folders get `mode` (0700 by default), files the same bits without x.
"""

import errno
import os
import re
import socket
import time
from itertools import count
from pathlib import Path

from accounts.addresses import address_problem
from popadmin.filemodes import file_mode

_counter = count()
CHUNK = 256 * 1024
DEFAULT_MODE = 0o700
# A delivery token names "this message from this source" inside the unique
# part of the file name ("R" + 32 hex digits), so a retry after a crash can
# see that an earlier attempt already linked the file (delivered_tokens).
TOKEN = re.compile(r"[0-9a-f]{32}")
_TOKEN_IN_NAME = re.compile(r"[^.]*\.[^.]*R([0-9a-f]{32})\.")
MAX_NAME_BYTES = 255
# Opening a file that must be new: never follows or replaces anything already there.
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class DeliveryError(Exception):
    """The message could not be stored; `temporary` says whether to retry later.

    `storage`: the local storage refuses every write, not just this copy's (see
    write_error), so no other message can be stored there until someone acts.
    """

    def __init__(self, message, temporary=True, storage=False):
        super().__init__(message)
        self.temporary = temporary
        self.storage = storage


# Errors of the file system as a whole: every later copy would meet them too.
STORAGE_ERRORS = {
    errno.ENOSPC: "local disk full",
    errno.EDQUOT: "local disk quota exceeded",
    errno.EROFS: "local disk read-only",
}
UNWRITABLE = "local mail root not writable"


def write_error(what: str, exc: OSError, maildir: Path) -> DeliveryError:
    """The DeliveryError for `exc`, met while doing `what` ("cannot write to mailbox X").

    A full disk, an exhausted file-system quota or a read-only mount refuses
    every copy, and so does a MAIL_ROOT the service may not write to (the
    mailbox `maildir` is MAIL_ROOT/<domain>/<localpart>); those are marked
    `storage` and say so first, e.g. "local disk full: cannot write to
    mailbox ...: No space left on device". A permission problem of one
    mailbox's own folders is that mailbox's alone.
    """
    text = f"{what}: {exc.strerror or exc}"
    kind = STORAGE_ERRORS.get(exc.errno)
    if kind is None and exc.errno in (errno.EACCES, errno.EPERM):
        root = Path(maildir).parent.parent
        while not root.exists() and root != root.parent:
            root = root.parent  # MAIL_ROOT not made yet: where it would be made
        if not os.access(root, os.W_OK | os.X_OK):
            kind = UNWRITABLE
    if kind is None:
        return DeliveryError(text)
    return DeliveryError(f"{kind}: {text}", storage=True)


def mailbox_dir(mail_root: Path, address: str) -> Path:
    """MAIL_ROOT/<domain>/<localpart>: refused unless both are one plain folder name."""
    problem = address_problem(address)
    if problem:
        raise DeliveryError(
            f"refusing to deliver to {address!r}: {problem}; "
            f"change the mailbox address (its Maildir would not be a folder of its own)",
            temporary=False,
        )
    localpart, _, domain = address.rpartition("@")
    return Path(mail_root).resolve() / domain / localpart


def folder_problem(folder: str) -> str | None:
    """Why `folder` cannot name a Maildir++ folder, or None ("" and INBOX are the root)."""
    if folder is None:
        return None
    if not isinstance(folder, str):
        return "a folder name must be text"
    if any(not ch.isprintable() for ch in folder):
        return "a folder name cannot contain control characters"
    name = (folder or "").strip().strip("/")
    if not name or name.upper() == "INBOX":
        return None
    parts = [p for p in name.replace(".", "/").split("/") if p]
    if not parts:
        return "a folder name needs at least one letter besides dots and slashes"
    if len(("." + ".".join(parts)).encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"a folder name is limited to {MAX_NAME_BYTES - 1} bytes"
    return None


def folder_path(maildir: Path, folder: str) -> Path:
    """Maildir++: INBOX is the root; "Work/Archive" is ".Work.Archive/".

    Dots and slashes both separate levels, so ".." and "/" can only ever name
    one ".A.B" folder directly inside the mailbox, never a path elsewhere.
    """
    problem = folder_problem(folder)
    if problem:
        raise DeliveryError(f"invalid folder name {folder!r}: {problem}", temporary=False)
    name = (folder or "").strip().strip("/")
    if not name or name.upper() == "INBOX":
        return maildir
    parts = [p for p in name.replace(".", "/").split("/") if p]
    return maildir / ("." + ".".join(parts))


def confine(maildir: Path, path: Path):
    """Refuse `path` unless it really (symlinks resolved) is `maildir` or inside it."""
    real = path.resolve()
    if real != maildir and maildir not in real.parents:
        raise DeliveryError(
            f"refusing to write to {path}: it leads outside the mailbox {maildir} "
            f"(to {real}); remove the symbolic link or fix the folder name",
            temporary=False,
        )


def make_dirs(path: Path, mode: int = DEFAULT_MODE):
    """mkdir -p, giving every folder it creates exactly `mode` (whatever the umask)."""
    missing = []
    while not path.exists() and not path.is_symlink():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode)
        except FileExistsError:
            continue  # another worker made it; its mode is its own
        os.chmod(directory, mode)


def _create_file(path: Path, mode: int):
    """A new file with exactly `mode`; never follows or replaces anything already there."""
    fd = os.open(path, NEW_FILE, mode)
    os.fchmod(fd, mode)
    return os.fdopen(fd, "wb")


def ensure_maildir(path: Path, is_subfolder: bool, mode: int = DEFAULT_MODE):
    for sub in ("tmp", "new", "cur"):
        make_dirs(path / sub, mode)
    if is_subfolder and not (path / "maildirfolder").exists():
        try:
            _create_file(path / "maildirfolder", file_mode(mode)).close()
        except FileExistsError:
            pass


def unique_name(size: int, token: str = "") -> str:
    now = time.time()
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    tag = f"R{token}" if token else ""
    usec = int(now % 1 * 1e6)  # six digits: names of one second sort in delivery order
    return f"{int(now)}.M{usec:06d}P{os.getpid()}Q{next(_counter)}{tag}.{host},S={size}"


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
    return usage(maildir)[0]


def usage(maildir: Path) -> tuple[int, int]:
    """(bytes, messages) in all folders, by listing them: what maildirsize is counted from."""
    total = messages = 0
    if not maildir.exists():
        return 0, 0
    for folder in [maildir, *(p for p in maildir.iterdir() if p.name.startswith("."))]:
        for sub in ("new", "cur"):
            directory = folder / sub
            if not directory.is_dir():
                continue
            with os.scandir(directory) as entries:
                for entry in entries:
                    total += _size_of(entry)
                    messages += 1
    return total, messages


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
