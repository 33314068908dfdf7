"""A database restart mid-session is told apart from a killed worker: every
connection of the worker is cut (what a restart does) while it delivers, the
dispatcher's tick may end the run first as a dead worker's, and the worker,
alive, says what happened once the database answers. Nothing is lost or
delivered twice, and the account is collected in full. Production stack."""

import re
from collections import Counter

import pytest
from django.db import connection

from retrieval.models import GlobalSettings, HourlyStats, Run
from tests.factories import local_messages, make_account
from tests.workers import CeleryProcess, process_env, start_together, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

MESSAGES = 60
APP_NAME = "popadmin-db-restart-test"
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)$", re.MULTILINE | re.IGNORECASE)


@pytest.mark.timeout(240)
def test_a_run_cut_by_a_database_restart_says_so_not_killed(dovecot, mail_user, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("cuts PostgreSQL server connections")
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        messages_per_download=10, duplicate_check=False, max_sessions_per_host=0,
        timeout_seconds=5, connection_retries=1, retry_seconds=0)
    dovecot.deliver_many(mail_user[0], MESSAGES, size=20_000)
    account = make_account(dovecot, *mail_user)
    # Named, so that only the worker's and beat's connections are cut: the test
    # process's others (a browser test's live server) are not this test's to break.
    env = process_env(POPADMIN_CA_FILE=dovecot.ca_file, POPADMIN_DISPATCH_SECONDS=1,
                      POPADMIN_LEASE_SECONDS=30, PGAPPNAME=APP_NAME)
    procs = [CeleryProcess("worker", tmp_path, env=env, concurrency=1),
             CeleryProcess("beat", tmp_path, env=env)]
    try:
        start_together(*procs)
        cut = wait_for(lambda: Run.objects.filter(account=account, status=Run.Status.RUNNING,
                                                  fetched__gt=0).first(),
                       timeout=60, interval=0.01, what="a session delivering")
        with connection.cursor() as cursor:  # every connection of the worker and beat
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND application_name = %s",
                           [APP_NAME])
            assert cursor.fetchall(), "no connection of the worker to cut"
        wait_for(lambda: Run.objects.filter(pk=cut.pk).exclude(status="running").exists()
                 and "database connection" in Run.objects.get(pk=cut.pk).error,
                 timeout=60, interval=0.2, what="the cut run explained")
        wait_for(lambda: len(local_messages(account.owner)) >= MESSAGES
                 and not dovecot.messages(mail_user[0])
                 and not Run.objects.filter(account=account, status="running").exists(),
                 timeout=120, interval=0.25, what="every message collected")
    finally:
        for proc in procs:
            proc.stop()

    cut.refresh_from_db()
    assert cut.status == Run.Status.ERROR
    assert "killed" not in cut.error and "database connection" in cut.error, cut.error
    delivered = Counter(MESSAGE_ID.search(m).group(1) for m in local_messages(account.owner))
    assert len(delivered) == MESSAGES and max(delivered.values()) == 1
    runs = Run.objects.filter(account=account).count()
    totals = HourlyStats.objects.all()
    assert sum(h.runs_ok + h.runs_partial + h.runs_error for h in totals) >= runs
