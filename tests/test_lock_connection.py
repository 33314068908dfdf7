"""Session locks share one kept database connection per process
(retrieval/lock_connection.py) and still exclude as before: a held account
is refused in the same process too, a dropped connection loses its locks
and the next one is taken on a new connection, and every lock goes with the
process."""

import os

import pytest
from django.db import connection

from retrieval import lock_connection, locks
from retrieval.locks import session_lock

pytestmark = pytest.mark.django_db

ACCOUNT = 5151


def backend_pid(lock) -> int | None:
    """The server process holding a PostgreSQL lock (None for a file lock)."""
    if not isinstance(lock, locks.AdvisoryLock):
        return None
    return lock_connection.query(lock._db, "SELECT pg_backend_pid()")


def test_it_takes_every_lock_of_the_process_on_one_kept_connection():
    pids = set()
    for account in range(ACCOUNT, ACCOUNT + 5):
        lock = session_lock(account)
        assert lock.acquire()
        pids.add(backend_pid(lock))
        assert locks.held([account]) == {account}
        lock.release()
        assert locks.held([account]) == set()

    if connection.vendor == "postgresql":
        assert len(pids) == 1 and None not in pids  # no connection per session any more


def test_it_refuses_an_account_this_process_already_holds():
    # PostgreSQL advisory locks are re-entrant within one connection: the
    # second acquire must still be refused, as from another process.
    first, second = session_lock(ACCOUNT), session_lock(ACCOUNT)
    assert first.acquire()
    assert not second.acquire()

    first.release()
    assert not locks.held([ACCOUNT])
    assert second.acquire()
    second.release()


def test_a_dropped_connection_loses_its_locks_and_the_next_acquire_reconnects():
    lock = session_lock(ACCOUNT)
    assert lock.acquire()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # what a database restart does to it
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid(lock)])
    else:
        lock.release()  # a file lock only goes with its process

    assert not lock.alive()
    other = session_lock(ACCOUNT)
    assert other.acquire()  # on a new connection
    assert other.alive() and locks.held([ACCOUNT]) == {ACCOUNT}
    lock.release()  # the old holder letting go must not free the new one's lock
    assert other.alive() and locks.held([ACCOUNT]) == {ACCOUNT}
    other.release()
    assert locks.held([ACCOUNT]) == set()


def test_a_forked_child_leaves_the_parents_connection_and_locks_alone():
    postgres = connection.vendor == "postgresql"
    lock = session_lock(ACCOUNT)
    assert lock.acquire()
    pid = os.fork()
    if pid == 0:  # the child: what a Celery pool process does after the fork
        ok = False
        try:
            child = session_lock(ACCOUNT + 1)
            ok = child.acquire()
            child.release()
            if postgres:
                # The inherited lock is not the child's: not alive here, and
                # letting go of it must not unlock (or close) the parent's.
                ok = ok and not lock.alive()
                lock.release()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert lock.alive() and locks.held([ACCOUNT]) == {ACCOUNT}
    lock.release()
