"""A Maildir folder opened for writing: its tmp/ and new/ (or cur/) held as
directory descriptors for as long as a run delivers into it.

open_folder() makes the folder and checks, symlinks resolved, that both
directories are inside the mailbox (delivery/maildir.py confine). From then
on every copy is created, linked and removed relative to those descriptors
(openat/linkat/unlinkat), never by path. A link planted after the check
cannot redirect a descriptor, so later copies need no check of their own:
the per-copy realpath() walk of a path this module replaced cost about 30 µs
and seven lstat calls, and still left a gap between the check and the open.

If someone removes a held directory (to plant a link in its place), writing
into it fails; the path is then checked again so the error names what
happened ("leads outside the mailbox"), and the caller opens the folder anew
for the next copy, with every check.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from delivery import maildir as paths
from delivery import maildir_tmp
from delivery.maildir import NEW_FILE, DeliveryError, confine
from popadmin.filemodes import file_mode

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_COPY = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
SYNC_CHUNK = 64  # copies open at once while their data is synced
SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h


@dataclass(eq=False)
class Folder:
    """tmp/ and the box (new/ or cur/) of one Maildir folder, open and checked."""

    maildir: Path
    box: Path  # new/ or cur/, for messages and error texts
    tmp_fd: int
    box_fd: int
    device: int
    mode: int
    seen: bool
    closed: bool = field(default=False)

    @property
    def tmp(self) -> Path:
        return self.box.parent / "tmp"

    def __del__(self):
        self.close()  # a backend dropped without close() (an error path) leaks nothing

    def close(self):
        if not self.closed:
            self.closed = True
            os.close(self.tmp_fd)
            os.close(self.box_fd)

    def recheck(self, exc: OSError, path: Path) -> DeliveryError:
        """The error for a failed write into a held directory: "outside the
        mailbox" when its path now leads elsewhere (a planted link)."""
        try:
            confine(self.maildir, path)
        except DeliveryError as refused:
            return refused
        return paths.write_error(f"cannot write to mailbox {self.maildir}", exc, self.maildir)


def open_folder(maildir: Path, folder: str, mode: int = paths.DEFAULT_MODE,
                seen: bool = False) -> Folder:
    """Make the folder if needed and open its tmp/ and box, each checked to be inside
    `maildir` (as it resolves now) and bound to what was checked."""
    target = paths.folder_path(maildir, folder)
    box = target / ("cur" if seen else "new")
    try:
        confine(maildir, target)
        paths.make_dirs(maildir.parent, mode)
        paths.ensure_maildir(maildir, is_subfolder=False, mode=mode)
        if target != maildir:
            paths.ensure_maildir(target, is_subfolder=True, mode=mode)
        tmp_fd = _open_checked(maildir, target / "tmp")
        try:
            box_fd = _open_checked(maildir, box)
        except BaseException:
            os.close(tmp_fd)
            raise
    except DeliveryError:
        raise
    except OSError as exc:
        raise paths.write_error(f"cannot write to mailbox {maildir}", exc, maildir) from exc
    maildir_tmp.clean_if_due(tmp_fd, target / "tmp")  # copies an interrupted session left
    return Folder(maildir, box, tmp_fd, box_fd, os.fstat(tmp_fd).st_dev, mode, seen)


def _open_checked(maildir: Path, path: Path) -> int:
    """A descriptor of the directory `path`, refused unless it is the very
    directory that resolves inside `maildir` (no link followed at the last
    step, and the same inode as the checked path)."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError:
        confine(maildir, path)  # a link leading outside: say so
        raise
    try:
        confine(maildir, path)
        held, checked = os.fstat(fd), os.stat(path.resolve())
        if (held.st_dev, held.st_ino) != (checked.st_dev, checked.st_ino):
            raise DeliveryError(f"refusing to write to {path}: it changed while it was checked")
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(frozen=True)
class Staged:
    """A copy written (not yet linked) into tmp/, and the name it will have."""

    folder: Folder
    name: str  # in tmp/
    final_name: str  # in the box
    size: int  # bytes written, trace headers included

    @property
    def maildir(self) -> Path:
        return self.folder.maildir

    @property
    def final(self) -> Path:
        return self.folder.box / self.final_name


def stage(folder: Folder, source: BinaryIO, size: int, prefix: bytes = b"", token: str = "",
          fsync: bool = True) -> Staged:
    """Write the copy into the folder's tmp/ (fsync'd unless the caller syncs
    a whole group at once: sync_copies or sync_filesystems); publish() links
    it into place."""
    if token and not paths.TOKEN.fullmatch(token):
        raise ValueError(f"not a delivery token: {token!r}")
    name = paths.unique_name(size + len(prefix), token)
    try:
        fd = os.open(name, NEW_FILE, file_mode(folder.mode), dir_fd=folder.tmp_fd)
    except OSError as exc:
        raise folder.recheck(exc, folder.tmp) from exc
    try:
        os.fchmod(fd, file_mode(folder.mode))
    except OSError as exc:
        os.close(fd)
        _remove_name(folder, name)
        raise paths.write_error(
            f"cannot write to mailbox {folder.maildir}", exc, folder.maildir) from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(prefix)
            source.seek(0)
            while chunk := source.read(paths.CHUNK):
                out.write(chunk)
            out.flush()
            if fsync:
                os.fsync(out.fileno())
    except OSError as exc:
        _remove_name(folder, name)  # a partial copy (a full disk) is nobody's mail
        raise paths.write_error(
            f"cannot write to mailbox {folder.maildir}", exc, folder.maildir) from exc
    final_name = name + ":2,S" if folder.seen else name
    return Staged(folder, name, final_name, size + len(prefix))


def publish(staged: list[Staged]) -> None:
    """Link each staged copy (its data already on disk) into new/ or cur/, in
    order, removing each from `staged` once it is in place."""
    while staged:
        copy = staged[0]
        folder = copy.folder
        try:
            try:
                os.link(copy.name, copy.final_name, src_dir_fd=folder.tmp_fd,
                        dst_dir_fd=folder.box_fd, follow_symlinks=False)
            finally:
                _remove_name(folder, copy.name)
        except OSError as exc:
            raise folder.recheck(exc, folder.box) from exc
        staged.pop(0)


def _remove_name(folder: Folder, name: str):
    try:
        os.unlink(name, dir_fd=folder.tmp_fd)
    except OSError:
        pass  # gone already, or the folder is: nothing more to clean


def sync_copies(staged: list[Staged]) -> None:
    """fsync the data of each staged copy (written without), a chunk at a time.

    Writeback of a whole chunk is started first (sync_file_range), then each
    copy is fsync'd: the first fsync's journal commit then carries the block
    allocations of the whole chunk, and the fsyncs after it find them already
    committed. fsync'ing each copy as it was written cost one journal commit
    per copy: on ext4 here the group way writes 2.6x the files per second for
    half the CPU (docs/architecture/performance.md, "Maildir durability").
    Still an fsync per file: unlike sync "filesystem", nobody else's writes
    are flushed with ours."""
    for start in range(0, len(staged), SYNC_CHUNK):
        chunk = staged[start : start + SYNC_CHUNK]
        opened: list[tuple[int, Staged]] = []
        where = chunk[0].folder.tmp  # for the error: the copy being worked on
        try:
            for copy in chunk:
                where = copy.folder.tmp
                fd = os.open(copy.name, _READ_COPY, dir_fd=copy.folder.tmp_fd)
                opened.append((fd, copy))
                _start_writeback(fd)
            for fd, copy in opened:
                where = copy.folder.tmp
                os.fsync(fd)
        except OSError as exc:
            raise paths.write_error(
                f"cannot make the copies in {where} durable", exc, chunk[0].maildir) from exc
        finally:
            for fd, _copy in opened:
                os.close(fd)


def _start_writeback(fd: int):
    if _sync_file_range is not None:
        # A hint only: whatever it does not start, the fsync that follows does.
        _sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)


def sync_dirs(folders) -> None:
    """fsync each folder's box once: the links made into it reach the disk."""
    for folder in folders:
        try:
            fsync_dir(folder)
        except OSError as exc:
            raise paths.write_error(
                f"cannot make {folder.box} durable", exc, folder.maildir) from exc


def fsync_dir(folder: Folder):
    os.fsync(folder.box_fd)


def sync_filesystems(folders) -> None:
    """Flush everything written to the filesystems holding `folders` (syncfs(2),
    once per filesystem): the data of every file staged there and every link
    made there is then on disk. One call instead of one fsync per file."""
    done = set()
    for folder in folders:
        if folder.device in done:
            continue
        done.add(folder.device)
        if _libc.syncfs(folder.box_fd) != 0:
            err = ctypes.get_errno()
            raise paths.write_error(f"cannot make mail under {folder.box} durable",
                                    OSError(err, os.strerror(err)), folder.maildir)


def _load_libc():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs.argtypes = [ctypes.c_int]
        if hasattr(libc, "sync_file_range"):
            libc.sync_file_range.argtypes = [
                ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        return libc
    except (OSError, AttributeError):
        return None  # not Linux: each file is fsync'd instead


_libc = _load_libc()
HAVE_SYNCFS = _libc is not None
_sync_file_range = getattr(_libc, "sync_file_range", None)


def deliver(maildir: Path, folder: str, source: BinaryIO, size: int, prefix: bytes = b"",
            token: str = "", mode: int = paths.DEFAULT_MODE, seen: bool = False) -> Path:
    """Copy `source` (prefixed by trace headers) into the folder, durably; return the new file.

    `maildir` comes from mailbox_dir(); the folder must resolve to it or below.
    `seen` (the source had flagged it read): the file goes to cur/ with the
    info ":2,S", as a reader marks a message read (Maildir spec); otherwise new/.
    """
    opened = open_folder(maildir, folder, mode, seen)
    try:
        staged = stage(opened, source, size, prefix, token)
        final = staged.final
        publish([staged])
        sync_dirs([opened])
        return final
    finally:
        opened.close()
