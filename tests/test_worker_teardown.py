"""A test's worker leaves nothing behind: one that did not get ready in time
is stopped by start() itself (its caller never got it to stop), and stop()
waits until nothing of its process group is left; a worker left running
consumes the next tests' tasks."""

import pytest

from tests.workers import CeleryProcess, group_alive, running, start_together, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.mark.timeout(120)
def test_a_worker_that_is_not_ready_in_time_is_not_left_running(tmp_path):
    worker = CeleryProcess("worker", tmp_path, queues=("test-teardown",))
    with pytest.raises(RuntimeError, match="not ready"):
        worker.start(ready_text="a line no worker writes", timeout=3)
    assert not group_alive(worker.proc.pid)
    assert worker not in running


@pytest.mark.timeout(120)
def test_stop_ends_a_running_beat_and_worker(tmp_path):
    procs = [CeleryProcess("worker", tmp_path, queues=("test-teardown",)),
             CeleryProcess("beat", tmp_path)]
    try:
        start_together(*procs)
    finally:
        for proc in procs:
            proc.stop()
    for proc in procs:
        wait_for(lambda p=proc: not group_alive(p.proc.pid), timeout=5, what="nothing left")
