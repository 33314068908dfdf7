"""A worker's own lock lives exactly as long as its process: held once it is
ready, gone the moment it is killed (long before its heartbeat goes silent),
and taken again when its database connection dropped. The dispatcher reads
it to release a killed worker's prefetched tasks at the next tick."""

import socket

import pytest
from django.db import connection

from retrieval import worker_lock
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.mark.timeout(120)
def test_the_lock_goes_with_a_killed_worker_and_comes_back_after_a_dropped_connection(
        tmp_path):
    name = f"lockw@{socket.gethostname()}"
    worker = CeleryProcess("worker", tmp_path, name="lockw", concurrency=1,
                           queues=("test-worker-lock",),
                           env=process_env(POPADMIN_HEARTBEAT_SECONDS=0.5))
    try:
        worker.start()
        wait_for(lambda: worker_lock.alive([name]), timeout=20, interval=0.1,
                 what="the worker's lock")
        if connection.vendor == "postgresql":
            # A database restart, for this worker: its lock connection is cut.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_locks "
                               "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() "
                               "AND database = (SELECT oid FROM pg_database "
                               "                WHERE datname = current_database())")
            wait_for(lambda: worker_lock.alive([name]), timeout=20, interval=0.1,
                     what="the lock taken again")
        worker.kill()
        assert worker_lock.alive([name]) == set()
    finally:
        worker.stop()
