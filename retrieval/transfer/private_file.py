"""Writing an export to a file nobody else can read, without writing through what is there."""

import os
import secrets

# O_NOFOLLOW: never open through a link planted under the temporary name.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def replace_privately(path, text):
    """Put `text` at `path` as a new owner-only (0600) file.

    The text goes to a new file under a random name in the same directory,
    reaches the disk, and is renamed over `path`. So an existing file at
    `path` is replaced whole, never written into (another hard link to it keeps
    the old content), and a symlink at `path` is replaced itself, never
    followed: its target is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(
        directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp"
    )
    fd = os.open(temporary, _NEW_FILE, 0o600)
    try:
        # The umask can only clear bits; make the mode exact whatever it is.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = None  # the file object owns it now
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _sync_directory(directory)


def _sync_directory(directory):
    # Makes the rename itself survive a crash.
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
