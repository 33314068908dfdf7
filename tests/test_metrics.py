"""/metrics: Prometheus text computed from the database, so every process answers alike."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from retrieval.models import HourlyStats, RemoteAccount, Run
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def samples(admin_client) -> dict:
    response = admin_client.get(reverse("metrics"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_it_exports_totals_histogram_and_states(admin_client):
    now = timezone.now()
    HourlyStats.record(status="ok", when=now, messages=3, bytes=300, seconds=0.5)
    HourlyStats.record(status="ok", when=now - dt.timedelta(days=200), messages=2, seconds=45)
    HourlyStats.record(status="error", when=now, seconds=4000)
    owner = make_mailbox()
    RemoteAccount.objects.create(owner=owner, host="a", username="1")
    RemoteAccount.objects.create(owner=owner, host="a", username="2", consecutive_failures=2)
    RemoteAccount.objects.create(owner=owner, host="a", username="3", enabled=False)

    s = samples(admin_client)
    assert s[("popadmin_messages_fetched_total", ())] == 5
    assert s[("popadmin_bytes_fetched_total", ())] == 300
    assert s[("popadmin_runs_total", (("status", "ok"),))] == 2
    assert s[("popadmin_runs_total", (("status", "error"),))] == 1
    assert s[("popadmin_run_duration_seconds_bucket", (("le", "1.0"),))] == 1
    assert s[("popadmin_run_duration_seconds_bucket", (("le", "30.0"),))] == 1
    assert s[("popadmin_run_duration_seconds_bucket", (("le", "120.0"),))] == 2
    assert s[("popadmin_run_duration_seconds_bucket", (("le", "+Inf"),))] == 3
    assert s[("popadmin_run_duration_seconds_count", ())] == 3
    assert s[("popadmin_run_duration_seconds_sum", ())] == 4045.5
    assert s[("popadmin_accounts", (("state", "ok"),))] == 1
    assert s[("popadmin_accounts", (("state", "failing"),))] == 1
    assert s[("popadmin_accounts", (("state", "disabled"),))] == 1
    assert s[("popadmin_sessions_running", ())] == 0
    assert s[("popadmin_queue_depth", (("queue", "interactive"),))] >= 0
    assert s[("popadmin_workers_alive", ())] == 0


def test_it_keeps_the_totals_when_runs_are_pruned(admin_client):
    owner = make_mailbox()
    account = RemoteAccount.objects.create(owner=owner, host="a", username="1")
    Run.objects.create(account=account, trigger="schedule", status="ok", fetched=4)
    HourlyStats.record(status="ok", messages=4)
    Run.objects.all().delete()
    assert samples(admin_client)[("popadmin_messages_fetched_total", ())] == 4
