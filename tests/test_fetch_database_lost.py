"""`manage.py fetch` when the database connection drops mid-run: one readable
line and a non-zero exit, never a traceback; the mail is safe, and the run
left "running" is ended by the account's next check."""

import io
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection

from retrieval import engine
from retrieval.management.commands import fetch as fetch_command
from retrieval.models import HourlyStats, Run
from retrieval.models.run import LOST_DATABASE
from tests.factories import local_messages, make_account
from tests.workers import ROOT, process_env, wait_for


def test_a_connection_lost_mid_run_is_one_line_not_a_traceback(
        db, dovecot, mail_user, monkeypatch):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user)

    def gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly\n\tThis probably...")

    monkeypatch.setattr(HourlyStats, "record", gone)  # the session's end cannot be written
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"1 account\(s\) failed"):
        call_command("fetch", "--account", str(account.pk), stdout=out)

    assert out.getvalue().splitlines() == [
        f"account {account.pk}: the database connection was lost (server closed the "
        "connection unexpectedly); mail not yet delivered is still on the server, and the run "
        "is ended by the next check of the account"]
    monkeypatch.undo()
    assert len(local_messages(account.owner)) == 2  # stored before the end failed


def test_a_connection_lost_mid_session_whose_end_can_be_written_says_so(
        db, dovecot, mail_user, monkeypatch):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user)

    def cut(self):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(engine.Retrieval, "execute", cut)
    run = engine.run_account(account.pk, Run.Trigger.COMMAND)
    run.refresh_from_db()
    assert (run.status, run.error) == (Run.Status.ERROR, LOST_DATABASE)
    assert "internal error" not in run.error


def test_a_database_unreachable_from_the_start_is_one_line(db, monkeypatch):
    def unreachable():
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: '
                               "Connection refused\n\tIs the server running?")

    monkeypatch.setattr(fetch_command, "default_jobs", unreachable)
    with pytest.raises(CommandError) as raised:
        call_command("fetch", "--all")
    assert str(raised.value) == ('database unreachable: connection to server at "127.0.0.1", '
                                 "port 5432 failed: Connection refused")


APP_NAME = "popadmin-fetch-lost-test"


@pytest.mark.e2e
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_the_command_survives_its_backend_terminated_mid_run(dovecot, mail_user):
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL server process")
    dovecot.deliver_many(mail_user[0], 300, size=20_000)
    account = make_account(dovecot, *mail_user)
    command = [sys.executable, "manage.py", "fetch", "--account", str(account.pk)]
    # Named, so that only the command's connections are cut, never the test
    # process's others (a browser test's live server).
    env = process_env(POPADMIN_CA_FILE=dovecot.ca_file, PGAPPNAME=APP_NAME)
    proc = subprocess.Popen(command, cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: Run.objects.filter(account=account, status=Run.Status.RUNNING,
                                            fetched__gt=0).exists(),
                 timeout=60, interval=0.05, what="the session under way")
        with connection.cursor() as cursor:  # every connection of the command, lock one too
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND application_name = %s",
                           [APP_NAME])
            assert cursor.fetchall(), "no connection of the command to cut"
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 1
    # The command's own end: one line each, no uncaught exception (what the
    # engine logged about the messages it could not record comes before).
    [line] = out.splitlines()
    assert err.rstrip().splitlines()[-1] == "CommandError: 1 account(s) failed", err[-3000:]
    cut = Run.objects.get(account=account)
    if line.startswith(f"account {account.pk}: the database connection was lost ("):
        # The cut reached the run's end too: nobody could write it.
        assert cut.status == Run.Status.RUNNING
    else:
        # The cut fell between two statements of the session and a new connection wrote
        # the end: in plain words, never "internal error".
        assert line.startswith(f"account {account.pk}: error ("), out
        assert (cut.status, cut.error) == (Run.Status.ERROR, LOST_DATABASE)
    time.sleep(0.5)

    call_command("fetch", "--account", str(account.pk), stdout=io.StringIO())

    cut.refresh_from_db()
    assert cut.status == Run.Status.ERROR
    assert len(local_messages(account.owner)) == 300
