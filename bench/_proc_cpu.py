"""CPU seconds of process trees and PostgreSQL backends, read from /proc."""

import contextlib
import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return None


def own_seconds(pid: int) -> float:
    """utime + stime of one process."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK if fields else 0.0


def tree_seconds(pid: int) -> float:
    """A process, its waited-for children (cutime, cstime) and its live descendants."""
    fields = _stat(pid)
    if not fields:
        return 0.0
    total = sum(int(f) for f in fields[11:15]) / _TICK
    return total + sum(tree_seconds(child) for child in children(pid))


def children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def backend_seconds(cursor, database: str) -> dict[int, float]:
    """{pid: CPU seconds} of the PostgreSQL backends connected to `database`
    (PostgreSQL on this machine)."""
    cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
    return {pid: own_seconds(pid) for (pid,) in cursor.fetchall()}


def backend_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU the backends spent between two readings; one born since counts whole."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
