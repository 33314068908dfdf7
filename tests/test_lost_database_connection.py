"""A database restart is not a killed worker: a session whose database connection
was lost says so in its run, once the database answers, whether or not the
dead-session cleanup ended the run first; a run whose worker really died keeps
"stopped unexpectedly"."""

import datetime as dt
import uuid

import pytest
from django.db import OperationalError
from django.utils import timezone

from retrieval import engine, history, lost_connection, status, tasks
from retrieval.models import HourlyStats, RemoteAccount, Run
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def session_cut_short(worker=None):
    """A run left running, its lease on the account and its lock gone with the connection."""
    token = uuid.uuid4()
    account = RemoteAccount.objects.create(
        owner=make_mailbox(), host="pop.example.net", username=f"u{token.hex[:8]}",
        lease_token=token, lease_expires=timezone.now() + dt.timedelta(hours=1))
    run = Run.objects.create(account=account, trigger=Run.Trigger.SCHEDULE, lease_token=token,
                             worker=worker or history.worker_id(), fetched=2)
    return account, run


def test_the_worker_rewords_the_cleanups_guess_once_the_database_answers():
    since = timezone.now() - dt.timedelta(seconds=1)
    account, run = session_cut_short()
    status.free_dead_leases()  # the next tick, while the worker could not write
    run.refresh_from_db()
    assert "stopped unexpectedly" in run.error

    assert lost_connection.explain(account.pk, history.worker_id(), since) == 1

    run.refresh_from_db()
    assert run.status == Run.Status.ERROR
    assert "database connection was lost" in run.error and "killed" not in run.error
    assert HourlyStats.objects.get().runs_error == 1  # counted once


def test_the_worker_ends_its_run_itself_when_it_is_first():
    since = timezone.now() - dt.timedelta(seconds=1)
    account, run = session_cut_short()

    assert lost_connection.explain(account.pk, history.worker_id(), since) == 1
    status.free_dead_leases()

    run.refresh_from_db()
    assert "database connection was lost" in run.error
    assert (HourlyStats.objects.get().runs_error, HourlyStats.objects.get().messages) == (1, 2)


def test_a_run_of_another_process_keeps_stopped_unexpectedly():
    since = timezone.now() - dt.timedelta(seconds=1)
    account, run = session_cut_short(worker="elsewhere:4242")
    status.free_dead_leases()

    assert lost_connection.explain(account.pk, history.worker_id(), since) == 0
    run.refresh_from_db()
    assert "stopped unexpectedly (killed or crashed)" in run.error


def test_the_fetch_task_explains_a_session_whose_database_went_away(monkeypatch):
    account, _ = session_cut_short()
    started = []

    def lost(account_id, trigger):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(engine, "run_account", lost)
    monkeypatch.setattr(lost_connection, "explain_later",
                        lambda pk, since: started.append((pk, since)))
    with pytest.raises(OperationalError):
        tasks.fetch_account.run(account.pk, "schedule")

    assert [pk for pk, _ in started] == [account.pk]
