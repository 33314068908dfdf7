"""A worker's pool processes start ready for their first session
(retrieval/worker_warmup.py): the TLS context is built once in the parent and
inherited, and each pool process opens its database connections as it
starts, not while its first task (a push, a Check now) waits."""

import shutil
import ssl
import time

import pytest
from django.db import connection, connections

from popadmin.net import tls
from retrieval import lock_connection, worker_warmup
from retrieval.models import GlobalSettings
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class _Params:
    host = "mail.example.test"
    verify_tls = True

    def __init__(self, ca_file):
        self.ca_file = ca_file


def test_the_parent_builds_the_tls_context_of_the_configured_ca_file(settings, tmp_path):
    ca_file = tmp_path / "ca.pem"
    shutil.copyfile(ssl.get_default_verify_paths().openssl_cafile, ca_file)
    settings.POPADMIN_CA_FILE = str(ca_file)
    GlobalSettings.load()
    tls._cached_context.cache_clear()

    worker_warmup.before_fork()

    built = tls._cached_context.cache_info()
    assert built.currsize == 2  # verifying and not verifying
    # A session with the same settings finds it ready: no context of its own.
    tls.make_context(_Params(str(ca_file)))
    assert tls._cached_context.cache_info().hits == built.hits + 1
    # Nothing is left open for the children to inherit.
    assert connection.connection is None


def test_a_pool_process_opens_its_connections_as_it_starts():
    connections.close_all()
    lock_connection.drop()

    worker_warmup.in_pool_process()

    assert connection.connection is not None
    if connection.vendor == "postgresql":
        assert lock_connection._state["db"] is not None
        assert lock_connection._state["db"].connection is not None
    lock_connection.drop()


def backends() -> int:
    """Other connections to this database (the worker's)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        return cursor.fetchone()[0]


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_started_worker_is_connected_before_its_first_task(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite opens a file, not a server connection")
    before = backends()
    worker = CeleryProcess("worker", tmp_path, env=process_env(), concurrency=2).start()
    try:
        # Each pool process's two: Django's
        # and the one for session locks (the parent keeps three of its own).
        wait_for(lambda: "ready" in worker.log(), timeout=30, interval=0.2, what="the worker")
        time.sleep(2)
        assert backends() - before >= 4
    finally:
        worker.stop()
