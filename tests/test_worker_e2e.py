"""End to end through real Celery processes on whichever broker and database
this session runs on (PostgreSQL + Redis, or the embedded SQLite + filesystem)."""

import socket

import pytest

from popadmin.celery import app
from retrieval.models import GlobalSettings, Run
from retrieval.tasks import fetch_account
from tests.factories import local_messages, make_account
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory, dovecot):
    # One worker for the module: starting one costs seconds; each test's rows
    # are its own, so sharing the process shares nothing else.
    with django_db_blocker.unblock():
        app.control.purge()
        env = process_env(POPADMIN_CA_FILE=dovecot.ca_file)
        proc = CeleryProcess("worker", tmp_path_factory.mktemp("worker"), env=env).start()
    yield proc
    proc.stop()


def finished_run(account):
    return Run.objects.filter(account=account).exclude(status=Run.Status.RUNNING).first()


def test_it_fetches_on_the_beat_schedule(dovecot, mail_user, worker, tmp_path):
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user)
    beat = CeleryProcess("beat", tmp_path, env=process_env(POPADMIN_DISPATCH_SECONDS=1)).start()
    try:
        run = wait_for(lambda: finished_run(account), what="a scheduled run")
    finally:
        beat.stop()

    assert run.trigger == Run.Trigger.SCHEDULE
    assert run.status == Run.Status.OK, run.error
    assert (run.delivered, run.deleted) == (3, 3)
    assert len(local_messages(account.owner)) == 3
    assert dovecot.messages(mail_user[0]) == []


def test_it_fetches_on_check_now_and_nothing_twice(dovecot, mail_user, worker):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user, keep_policy="keep")

    fetch_account.delay(account.pk, Run.Trigger.MANUAL)
    first = wait_for(lambda: finished_run(account), what="the first run")
    fetch_account.delay(account.pk, Run.Trigger.MANUAL)
    wait_for(lambda: Run.objects.filter(account=account).exclude(status="running").count() == 2,
             what="the second run")

    second = Run.objects.filter(account=account).first()
    assert first.status == second.status == Run.Status.OK
    assert (first.delivered, second.delivered, second.seen) == (2, 0, 2)
    assert len(local_messages(account.owner)) == 2
    assert len(dovecot.messages(mail_user[0])) == 2


def test_it_reports_a_wrong_password_from_the_worker(dovecot, mail_user, worker):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, mail_user[0], "wrong password")

    fetch_account.delay(account.pk, Run.Trigger.MANUAL)
    run = wait_for(lambda: finished_run(account), what="the failed run")

    assert run.status == Run.Status.ERROR and "login refused" in run.error
    assert "wrong password" not in worker.log()
    assert len(dovecot.messages(mail_user[0])) == 1


def test_it_reports_a_refused_connection_and_a_timeout_from_the_worker(dovecot, mail_user, worker):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=1, timeout_seconds=2
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with socket.socket() as silent:  # accepts the TCP handshake, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        refused = make_account(dovecot, *mail_user, host="127.0.0.1", port=closed)
        mute = make_account(dovecot, *dovecot.add_user(), host="127.0.0.1",
                            port=silent.getsockname()[1], security="none")
        fetch_account.delay(refused.pk, Run.Trigger.MANUAL)
        fetch_account.delay(mute.pk, Run.Trigger.MANUAL)
        runs = wait_for(lambda: (finished_run(refused), finished_run(mute)) if all(
            (finished_run(refused), finished_run(mute))) else None, what="both failed runs")

    assert runs[0].status == Run.Status.ERROR and "refused" in runs[0].error
    assert runs[1].status == Run.Status.ERROR and "no answer from server for 2 s" in runs[1].error
