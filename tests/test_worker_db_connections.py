"""A worker keeps its database connection from one task to the next
(settings.CELERY_DB_REUSE_MAX, popadmin/celery.py): Celery's Django fixup
would otherwise close it around every task, a new PostgreSQL server process
and login per task, most of an empty poll."""

import time

import pytest
from django.db import connection

from retrieval.tasks import fetch_account
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

STATS_DELAY = 2.0


TASKS = 10


def sessions_started() -> int:
    """Connections ever made to this database (the server counts them)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.timeout(120)
def test_a_worker_reuses_its_database_connection_across_tasks(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite opens a file, not a server connection")
    worker = CeleryProcess("worker", tmp_path, env=process_env(), concurrency=1).start()
    try:
        # An account that does not exist: each task reads the database and ends.
        fetch_account.delay(10**9, "manual")
        wait_for(lambda: worker.log().count("succeeded") >= 1, timeout=60, interval=0.1,
                 what="the first task")
        time.sleep(STATS_DELAY)  # the server publishes its counts about once a second
        before = sessions_started()
        for _ in range(TASKS):
            fetch_account.delay(10**9, "manual")
        wait_for(lambda: worker.log().count("succeeded") >= 1 + TASKS, timeout=60,
                 interval=0.1, what="the other tasks")
        time.sleep(STATS_DELAY)
        after = sessions_started()
    finally:
        worker.stop()

    # Before: one new connection per task (at least TASKS); now none, give
    # or take the worker's own housekeeping.
    assert after - before < 3, f"{after - before} connections for {TASKS} tasks"
