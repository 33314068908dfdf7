"""Every run counts once in its hour's totals (charts, /metrics), however it
ends: a run the dead-session cleanup ends counts as an error with what it had
done, and a session that finishes after the cleanup ended its run does not
count it a second time."""

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from retrieval import status
from retrieval.models import GlobalSettings, HourlyStats, RemoteAccount, Run
from retrieval.models.settings import EffectiveSettings
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def left_running(**counts):
    """A run whose worker died mid-session: its lease on the account, nobody's lock."""
    token = uuid.uuid4()
    account = RemoteAccount.objects.create(
        owner=make_mailbox(), host="pop.example.net", username=f"u{token.hex[:8]}",
        lease_token=token, lease_expires=timezone.now() + dt.timedelta(hours=1))
    run = Run.objects.create(account=account, trigger=Run.Trigger.SCHEDULE, lease_token=token,
                             started=timezone.now() - dt.timedelta(seconds=3), **counts)
    return account, run


def metric(admin_client, line_start):
    for line in admin_client.get(reverse("metrics")).content.decode().splitlines():
        if line.startswith(line_start):
            return float(line.split()[-1])
    raise AssertionError(line_start)


def test_a_run_the_cleanup_ends_counts_in_the_totals_and_metrics(admin_client):
    _, run = left_running(fetched=4, delivered=3, failed=1, bytes=4000)

    assert status.free_dead_leases() == 1
    assert status.reap_stale_runs() == 0  # ended once, counted once

    run.refresh_from_db()
    assert run.status == Run.Status.ERROR and "stopped unexpectedly" in run.error
    row = HourlyStats.objects.get()
    assert (row.runs_error, row.messages, row.delivered, row.failed, row.bytes) == (1, 4, 3, 1,
                                                                                   4000)
    assert row.seconds >= 3 and row.duration_le_5 == 1
    assert metric(admin_client, 'popadmin_runs_total{status="error"}') == 1
    assert metric(admin_client, "popadmin_messages_fetched_total") == 4


def test_a_run_whose_lease_another_run_took_counts_once():
    account, first = left_running(fetched=2)
    # The account went on with another session; the first run was never ended.
    RemoteAccount.objects.filter(pk=account.pk).update(lease_token=None, lease_expires=None)

    assert status.reap_stale_runs() == 1
    assert status.reap_stale_runs() == 0
    assert (HourlyStats.objects.get().runs_error, HourlyStats.objects.get().messages) == (1, 2)


def test_a_session_finishing_after_the_cleanup_keeps_its_words_and_counts_once():
    account, run = left_running(fetched=1)
    status.free_dead_leases()

    # The session was alive after all (its lock connection had dropped) and ends now.
    run.fetched, run.error = 1, "lost the account's session lock (its database connection dropped)"
    knobs = EffectiveSettings.for_mailbox(account.owner, GlobalSettings.load(), None)
    status.finish_run(account, run, knobs)

    run.refresh_from_db()
    assert run.status == Run.Status.ERROR and "database connection dropped" in run.error
    assert HourlyStats.objects.get().runs_error == 1
