"""The session lock: held by the process running an account's session, and
dropped by the system the moment that process dies (invariant "One session per account").

The lease row (RemoteAccount.lease_token) says who holds an account, but a
row cannot tell a slow session from a killed one; only its expiry could, and
that blocked a killed worker's accounts for minutes. This lock can: on
PostgreSQL it is a session-level advisory lock on a database connection
kept for locks (retrieval/lock_connection.py), which the server drops with
the connection when the worker dies;
on the embedded stack it is flock() on a file per account, which the kernel
drops when the process exits. A lease whose lock nobody holds is dead.

Probing a file lock takes it for an instant, so every probe and every
acquire happens under the admission lock (GlobalSettings.locked()).
"""

import errno
import fcntl
import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from retrieval import lock_connection

# High bits of every advisory lock key, so popadmin's keys stay apart from
# any other user of advisory locks in the same database; the low 48 bits
# are the account id.
_NAMESPACE = 0x706F << 48
_ID_BITS = (1 << 48) - 1

# Locks this process holds, so a test can let go of any that a caller left held.
_held: set = set()


def session_lock(account_id: int):
    """An unheld lock for the account, of the kind the database calls for."""
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if vendor == "postgresql":
        return AdvisoryLock(account_id)
    if vendor == "sqlite":
        return FileLock(account_id)
    raise ImproperlyConfigured(f"no session lock for a {vendor} database")


def held(account_ids) -> set[int]:
    """Those of these accounts whose lock some process holds right now."""
    ids = set(account_ids)
    if not ids:
        return set()
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return AdvisoryLock.held(ids)
    return {pk for pk in ids if FileLock.is_held(pk)}


def acquire_many(account_ids) -> dict:
    """{account id: its lock, held} for those of these accounts whose lock was
    free; on PostgreSQL in one round trip (a batch of cheap checks)."""
    ids = list(dict.fromkeys(account_ids))
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return AdvisoryLock.acquire_many(ids)
    got = {}
    for pk in ids:
        lock = session_lock(pk)
        if lock.acquire():
            got[pk] = lock
    return got


def release_many(held_locks) -> None:
    """Let go of these locks (one round trip on PostgreSQL)."""
    held_locks = list(held_locks)
    advisory = [lock for lock in held_locks if isinstance(lock, AdvisoryLock)]
    if advisory:
        AdvisoryLock.release_many(advisory)
    for lock in held_locks:
        if not isinstance(lock, AdvisoryLock):
            lock.release()


def release_all():
    for lock in list(_held):
        lock.release()
    lock_connection.close_if_idle()


class AdvisoryLock:
    """pg_try_advisory_lock on the process's lock connection (retrieval.lock_connection),
    which lives as long as the process: the lock goes with the process."""

    # held() reads the server's lock table: a probe never takes the lock, so
    # it may be taken before the admission lock (admission.admit).
    PROBED_WITHOUT_TAKING = True

    def __init__(self, account_id: int):
        self.account_id = account_id
        self.key = _NAMESPACE | account_id
        self._db = None

    def acquire(self) -> bool:
        with lock_connection.guard:
            if self._db is not None or self.key in lock_connection.keys:
                return False  # held in this process already: re-entry would not exclude
            db = lock_connection.current()
            try:
                got = lock_connection.query(db, "SELECT pg_try_advisory_lock(%s)", [self.key])
            except DatabaseError:
                # A connection left idle may have been dropped (a database
                # restart): one more try on a new one.
                db = lock_connection.current()
                got = lock_connection.query(db, "SELECT pg_try_advisory_lock(%s)", [self.key])
            if not got:
                return False
            lock_connection.keys.add(self.key)
            self._db = db
            _held.add(self)
            return True

    def alive(self) -> bool:
        """Still held: the connection (and so the lock) has not dropped."""
        with lock_connection.guard:
            if not lock_connection.is_current(self._db):
                return False
            try:
                lock_connection.query(self._db, "SELECT 1")
            except DatabaseError:
                return False
            return True

    def release(self):
        with lock_connection.guard:
            db, self._db = self._db, None
            _held.discard(self)
            if not lock_connection.is_current(db):
                return  # its connection dropped, and the lock with it
            lock_connection.keys.discard(self.key)
            try:
                # Unlocked at once, on a connection that stays open for the next session.
                lock_connection.query(db, "SELECT pg_advisory_unlock(%s)", [self.key])
            except DatabaseError:
                pass  # the connection is gone, and the lock with it

    @classmethod
    def acquire_many(cls, ids: list[int]) -> dict:
        with lock_connection.guard:
            wanted = [_NAMESPACE | pk for pk in ids
                      if (_NAMESPACE | pk) not in lock_connection.keys]
            if not wanted:
                return {}
            db = lock_connection.current()
            sql = "SELECT k FROM unnest(%s::bigint[]) AS k WHERE pg_try_advisory_lock(k)"
            try:
                got = lock_connection.query_all(db, sql, [wanted])
            except DatabaseError:
                db = lock_connection.current()
                got = lock_connection.query_all(db, sql, [wanted])
            locks = {}
            for key in got:
                lock = cls(key & _ID_BITS)
                lock._db = db
                lock_connection.keys.add(key)
                _held.add(lock)
                locks[lock.account_id] = lock
            return locks

    @staticmethod
    def release_many(locks: list) -> None:
        with lock_connection.guard:
            keys = []
            for lock in locks:
                db, lock._db = lock._db, None
                _held.discard(lock)
                if lock_connection.is_current(db):
                    lock_connection.keys.discard(lock.key)
                    keys.append(lock.key)
            if not keys:
                return
            try:
                lock_connection.query_all(
                    lock_connection.current(),
                    "SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) k", [keys])
            except DatabaseError:
                pass  # the connection is gone, and the locks with it

    @staticmethod
    def held(ids: set[int]) -> set[int]:
        keys = AdvisoryLock.held_keys()
        return {key & _ID_BITS for key in keys if key & ~_ID_BITS == _NAMESPACE} & ids

    @staticmethod
    def held_keys() -> set[int]:
        # One look at the server's lock table instead of a probe per account.
        # A bigint key shows as classid (high half) and objid (low half).
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(
                """SELECT classid::bigint, objid::bigint FROM pg_locks
                   WHERE locktype = 'advisory' AND objsubid = 1 AND granted
                     AND database = (SELECT oid FROM pg_database
                                     WHERE datname = current_database())"""
            )
            return {(high << 32) | low for high, low in cursor.fetchall()}


class FileLock:
    """flock() on <database file>.locks/account-<id>.lock.

    Beside the database file, because every process that shares the
    database shares its folder (SQLite needs it writable for its own lock
    files anyway). The holder removes the file when it lets go, so the
    folder does not keep one file per account ever checked; the inode check
    in _lock makes that safe against a process that opened the old file.
    """

    # is_held() takes the lock for an instant: only under the admission lock.
    PROBED_WITHOUT_TAKING = False

    def __init__(self, account_id: int):
        self.account_id = account_id
        self.path = lock_dir() / f"account-{account_id}.lock"
        self._fd = None

    def acquire(self) -> bool:
        self._fd = _lock(self.path)
        if self._fd is None:
            return False
        _held.add(self)
        return True

    def alive(self) -> bool:
        return self._fd is not None

    def release(self):
        fd, self._fd = self._fd, None
        _held.discard(self)
        if fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            finally:
                os.close(fd)

    @classmethod
    def is_held(cls, account_id: int) -> bool:
        probe = cls(account_id)
        if not probe.acquire():
            return True
        probe.release()
        return False


def lock_dir() -> Path:
    name = str(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"])
    folder = settings.DATA_DIR / "locks" if ":memory:" in name else Path(name + ".locks")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _lock(path: Path) -> int | None:
    """An open, flock()ed descriptor of the file at `path`, or None if another holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        try:
            current = os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        # The holder removed this file between our open and our lock: the
        # lock we got is on a file nobody else will open. Start again.
        os.close(fd)
