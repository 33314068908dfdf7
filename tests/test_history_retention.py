"""Old runs and deliveries are pruned in batches; hourly totals and live retries stay."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from delivery.models import Delivery
from retrieval import retention, tasks
from retrieval.models import GlobalSettings, HourlyStats, RemoteAccount, Run
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def account():
    return RemoteAccount.objects.create(owner=make_mailbox(), host="pop.example.org",
                                        username="someone")


def run_at(account, days_ago, **fields):
    when = NOW - dt.timedelta(days=days_ago)
    run = Run.objects.create(account=account, trigger="schedule", started=when,
                             finished=when, status=fields.pop("status", Run.Status.OK), **fields)
    HourlyStats.record(status="ok", when=when, messages=1)
    return run


def delivery_at(run, days_ago, token="", result=Delivery.Result.DELIVERED):
    return Delivery.objects.create(mailbox=run.account.owner, run=run, message_key="k",
                                   result=result, token=token,
                                   created=NOW - dt.timedelta(days=days_ago))


def test_it_prunes_runs_and_deliveries_past_the_retention(account):
    old, recent = run_at(account, 91), run_at(account, 89)
    delivery_at(old, 91)
    kept = delivery_at(recent, 89)

    counts = retention.prune_history(now=NOW)

    assert counts == {"deliveries": 1, "runs": 1}
    assert list(Run.objects.all()) == [recent]
    assert list(Delivery.objects.all()) == [kept]
    assert HourlyStats.objects.count() == 2  # the charts keep both hours


def test_it_follows_the_setting(account):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(history_days=40)
    run_at(account, 41)
    keep = run_at(account, 39)

    retention.prune_history(now=NOW)

    assert list(Run.objects.all()) == [keep]


def test_it_works_in_batches(account):
    for _ in range(7):
        delivery_at(run_at(account, 100), 100)

    counts = retention.prune_history(now=NOW, batch=2)

    assert counts == {"deliveries": 7, "runs": 7}
    assert not Run.objects.exists() and not Delivery.objects.exists()


def test_it_stops_at_its_time_limit_and_goes_on_next_time(account):
    for _ in range(3):
        run_at(account, 100)

    assert retention.prune_history(now=NOW, batch=1, max_seconds=0) == {"deliveries": 0,
                                                                          "runs": 0}
    assert retention.prune_history(now=NOW, batch=1)["runs"] == 3


def test_it_keeps_deliveries_of_a_message_still_being_retried(account):
    # Its old rows tell the router who already has a copy: pruning them would
    # deliver that copy again.
    old = delivery_at(run_at(account, 120), 120, token="t" * 32)
    delivery_at(run_at(account, 1), 1, token="t" * 32, result=Delivery.Result.FAILED)
    done = delivery_at(run_at(account, 120), 120, token="u" * 32)

    retention.prune_history(now=NOW)

    assert Delivery.objects.filter(pk=old.pk).exists()
    assert not Delivery.objects.filter(pk=done.pk).exists()
    assert Delivery.objects.get(pk=old.pk).run is None  # its run is gone, the row is not


def test_it_never_prunes_inside_the_duplicate_check_window(account):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(history_days=1)
    keep = run_at(account, 20)

    retention.prune_history(now=NOW)

    assert list(Run.objects.all()) == [keep]
    settings = GlobalSettings.load()
    settings.history_days = 10
    with pytest.raises(ValidationError):
        settings.full_clean()


def test_it_leaves_a_running_session_alone(account):
    running = run_at(account, 100, status=Run.Status.RUNNING)

    retention.prune_history(now=NOW)

    assert Run.objects.filter(pk=running.pk).exists()


def test_the_periodic_task_prunes(account):
    run_at(account, 200)

    assert tasks.prune_history() == {"deliveries": 0, "runs": 1}


def test_beat_runs_pruning_and_alerts():
    from django.conf import settings

    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"retrieval.tasks.prune_history", "retrieval.tasks.evaluate_alerts"} <= tasks_scheduled
