"""The session lock (retrieval.locks): one holder at a time, across
connections and processes, and free the moment its holder dies."""

import signal
import subprocess
import sys
import time

import pytest

from retrieval import locks
from retrieval.locks import session_lock
from tests.workers import ROOT, process_env, wait_for

pytestmark = pytest.mark.django_db

ACCOUNT = 4242

HOLDER = """
import sys, time, django
django.setup()
from retrieval.locks import session_lock
print("held" if session_lock(int(sys.argv[1])).acquire() else "refused", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder_process():
    """A separate Python process that takes the account's lock and keeps it."""
    procs = []

    def start(account_id):
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(account_id)], cwd=ROOT,
            env=process_env(DJANGO_SETTINGS_MODULE="popadmin.settings"),
            stdout=subprocess.PIPE, text=True,
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def test_it_refuses_a_second_holder_until_the_first_lets_go():
    first, second = session_lock(ACCOUNT), session_lock(ACCOUNT)

    assert first.acquire()
    assert not second.acquire()  # another connection (or file descriptor), same process
    assert session_lock(ACCOUNT + 1).acquire()  # other accounts are not affected
    assert locks.held([ACCOUNT, ACCOUNT + 1, ACCOUNT + 2]) == {ACCOUNT, ACCOUNT + 1}
    assert first.alive()

    first.release()

    assert second.acquire()
    second.release()
    assert locks.held([ACCOUNT]) == set()


def test_it_frees_the_lock_when_its_holder_process_is_killed(holder_process):
    holder = holder_process(ACCOUNT)
    lock = session_lock(ACCOUNT)
    assert not lock.acquire()
    assert locks.held([ACCOUNT]) == {ACCOUNT}

    holder.send_signal(signal.SIGKILL)
    killed = time.monotonic()

    # The database server (or the kernel) drops it with the process: no lease to wait out.
    wait_for(lock.acquire, timeout=10, interval=0.05, what="the dead holder's lock")
    print(f"\nlock free {time.monotonic() - killed:.2f} s after SIGKILL")
    lock.release()


def test_it_leaves_nothing_behind_once_released():
    lock = session_lock(ACCOUNT)
    assert lock.acquire()
    lock.release()
    lock.release()  # twice is harmless

    assert not lock.alive()
    if isinstance(lock, locks.FileLock):
        assert not lock.path.exists()  # no file per account ever checked
