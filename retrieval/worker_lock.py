"""A worker's own lock: held by its main process for as long as it lives, and
dropped by the system the moment it dies, like a session lock (retrieval/locks.py).

A heartbeat goes silent only after three missed beats (a minute by default);
this lock is gone at once. The dispatcher's tick reads it to release the
claims of tasks a killed worker had received but not started
(retrieval/lost_claims.py) at the next tick. On PostgreSQL it is an
advisory lock keyed by the worker's node name, on the process's lock
connection; on the embedded stack flock() on a file named for it.
"""

import hashlib

from django.db import DEFAULT_DB_ALIAS, connections

from retrieval import locks

# High bits apart from the session locks' (locks._NAMESPACE).
_NAMESPACE = 0x7077 << 48


def _digest(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], "big")


class _Advisory(locks.AdvisoryLock):
    def __init__(self, name: str):
        super().__init__(0)
        self.account_id = None
        self.key = _NAMESPACE | _digest(name)


class _File(locks.FileLock):
    def __init__(self, name: str):
        self.account_id = None
        self.path = locks.lock_dir() / f"worker-{_digest(name):012x}.lock"
        self._fd = None


def lock_for(name: str):
    """An unheld lock for the worker of this node name."""
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return _Advisory(name)
    return _File(name)


def alive(names) -> set[str]:
    """Those of these workers (node names) whose process holds its lock now.
    On the embedded stack a probe takes the lock for an instant: call it under
    the admission lock (a dispatcher tick)."""
    names = set(names)
    if not names:
        return set()
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        keys = locks.AdvisoryLock.held_keys()
        return {name for name in names if _NAMESPACE | _digest(name) in keys}
    found = set()
    for name in names:
        probe = _File(name)
        if probe.acquire():
            probe.release()
        else:
            found.add(name)
    return found
