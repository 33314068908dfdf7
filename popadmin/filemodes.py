"""Who may read what popadmin writes: nobody but its own user, unless configured.

The data folder holds the database (sessions, encrypted secrets), the spool
(whole messages) and the broker's queue; the Maildirs hold mail. Modes are
set explicitly, never left to the umask, which only ever narrows them.
"""

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# Files SQLite keeps beside a database; they hold the same data.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def parse_dir_mode(text: str) -> int:
    """POPADMIN_MAILDIR_MODE: an octal folder mode that keeps the owner's rwx and lets
    nobody else write (e.g. 0700, 0750 for a mail server in popadmin's group)."""
    try:
        mode = int(str(text).strip(), 8)
    except ValueError:
        raise ValueError(f"POPADMIN_MAILDIR_MODE must be an octal mode like 0700, not {text!r}")
    if not 0 <= mode <= 0o777 or mode & 0o700 != 0o700 or mode & 0o002:
        raise ValueError(
            f"POPADMIN_MAILDIR_MODE={text!r}: the owner needs rwx (0700) and others may not "
            f"write; use e.g. 0700, 0750 or 0770"
        )
    return mode


def file_mode(dir_mode: int) -> int:
    """The mode of the files in folders of `dir_mode`: the same bits without x."""
    return dir_mode & 0o666


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) and make it 0700."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    try:
        os.chmod(path, PRIVATE_DIR)
    except PermissionError:
        pass  # a folder someone else owns and lent us: its mode is theirs to choose
    return path


def private_sqlite(name, create: bool = False) -> None:
    """Make an SQLite database and its journal files 0600; `create`: make an empty
    0600 database file first if there is none (SQLite itself would make it 0644).

    SQLite gives the journals it creates later the database file's mode."""
    if not name or str(name) == ":memory:" or str(name).startswith("file:"):
        return
    if create:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            os.close(os.open(name, flags, PRIVATE_FILE))
        except FileExistsError:
            pass
    for path in [Path(name), *(Path(f"{name}{suffix}") for suffix in SQLITE_COMPANIONS)]:
        try:
            os.chmod(path, PRIVATE_FILE)
        except (FileNotFoundError, PermissionError):
            pass  # not there (yet), or someone else's file


def prepare_data_dirs(settings) -> None:
    """Create the data folder, spool, broker folders, static root and the SQLite file,
    private; run at every start (popadmin/apps.py), so an upgrade tightens old modes."""
    private_dir(Path(settings.DATA_DIR))
    private_dir(Path(settings.SPOOL_DIR))
    for folder in getattr(settings, "POPADMIN_BROKER_DIRS", ()):
        private_dir(Path(folder))
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        private_sqlite(database["NAME"], create=True)
