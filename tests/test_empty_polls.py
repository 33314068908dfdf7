"""An unattended poll that finds nothing leaves no Run row, yet counts everywhere else."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval import engine
from retrieval.models import GlobalSettings, HourlyStats, RemoteAccount, Run
from tests.factories import make_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_retries():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=1, retry_seconds=0, timeout_seconds=5)


def poll(account, trigger=Run.Trigger.SCHEDULE):
    # A scheduled task only runs an account that is due.
    RemoteAccount.objects.filter(pk=account.pk).update(
        next_check=timezone.now() - dt.timedelta(seconds=1))
    return engine.run_account(account.pk, trigger)


def test_it_keeps_no_row_for_empty_scheduled_polls(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    checks = []
    for _ in range(5):
        run = poll(account)
        assert run is not None and run.status == Run.Status.OK
        account.refresh_from_db()
        checks.append(account.last_check)

    assert Run.objects.count() == 0
    assert checks == sorted(checks) and len(set(checks)) == 5
    assert account.last_status == "ok" and account.next_check > timezone.now()
    row = HourlyStats.objects.get()
    assert (row.runs_ok, row.empty_polls, row.messages) == (5, 5, 0)


def test_it_keeps_the_row_of_a_poll_with_mail(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    poll(account)
    dovecot.deliver_many(mail_user[0], 2)

    run = poll(account)

    assert list(Run.objects.values_list("pk", "fetched")) == [(run.pk, 2)]
    assert HourlyStats.objects.get().empty_polls == 1


def test_it_keeps_the_row_of_a_failed_poll(dovecot, mail_user):
    account = make_account(dovecot, mail_user[0], "wrong password")

    run = poll(account)

    assert Run.objects.get().pk == run.pk and run.status == Run.Status.ERROR
    assert HourlyStats.objects.get().empty_polls == 0


def test_it_keeps_the_row_of_an_empty_check_a_person_started(dovecot, mail_user):
    # The page that started it follows this row until it ends.
    account = make_account(dovecot, *mail_user)

    run = poll(account, Run.Trigger.MANUAL)

    assert Run.objects.get().pk == run.pk and run.fetched == 0


def test_it_shows_an_empty_poll_while_it_runs(dovecot, mail_user, monkeypatch):
    # The row exists from the start (progress and the reaper need it); only
    # a clean empty end removes it. Seen mid-session: when the engine connects,
    # the row is there.
    account = make_account(dovecot, *mail_user)
    seen_during = []
    original = engine.Retrieval.connect

    def spy(self):
        seen_during.append(Run.objects.filter(pk=self.run.pk).exists())
        return original(self)

    monkeypatch.setattr(engine.Retrieval, "connect", spy)
    poll(account)
    monkeypatch.undo()
    assert seen_during == [True]
    assert Run.objects.count() == 0
