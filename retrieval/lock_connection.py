"""The one database connection that holds every advisory session lock of a process.

Opening a PostgreSQL connection costs a server process and a login: about
10 ms, paid under the admission lock at every session start when each lock
had a connection of its own, so that it bounded how many sessions a second
the whole service could start. One connection per process, kept open, holds
the locks of every session the process runs (one at a time in a Celery pool
process, a few with threads), so taking a lock is one round trip.

What the lock promises is unchanged: the server drops every lock of the
connection when the process dies. Advisory locks are re-entrant within one
server session, so the keys this process holds are tracked here and a second
acquire of a held key is refused, as from another connection. If the
connection drops, every lock on it is gone: the sessions that held them see
it (AdvisoryLock.alive, the heartbeat) and stop, and the next acquire opens a
new connection.
"""

import os
import threading

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

# Every use of the connection (from session and heartbeat threads) is serialised.
guard = threading.RLock()
_state = {"db": None}
# Keys held on the current connection, by this process.
keys: set[int] = set()


def current():
    """The open lock connection (opened now if there is none); call under `guard`."""
    if _state["db"] is None:
        # Not Django's own connection: its transactions come and go, and a
        # session-level lock must outlive them all.
        db = connections.create_connection(DEFAULT_DB_ALIAS)
        db.inc_thread_sharing()  # the heartbeat thread checks it too
        _state["db"] = db
    return _state["db"]


def is_current(db) -> bool:
    return db is not None and db is _state["db"]


def query(db, sql: str, params=()):
    """One statement on the lock connection, its first column; a failure drops
    the connection (and with it every lock on it) and is raised."""
    try:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
    except DatabaseError:
        drop()
        raise


def query_all(db, sql: str, params=()) -> list:
    """Like query(), every row's first column."""
    try:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]
    except DatabaseError:
        drop()
        raise


def drop():
    """Forget the connection and close it: the server frees its locks."""
    db, _state["db"] = _state["db"], None
    keys.clear()
    if db is not None:
        try:
            db.close()
        except DatabaseError:
            pass


def close_if_idle():
    """Close the connection when it holds no lock (tests: a test database
    cannot be dropped while a connection to it is open)."""
    with guard:
        if not keys:
            drop()


def _forget_after_fork():
    # A forked child shares its parent's socket: closing it would end the
    # parent's connection and locks, so the child only lets go of it.
    global guard
    guard = threading.RLock()
    _state["db"] = None
    keys.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
