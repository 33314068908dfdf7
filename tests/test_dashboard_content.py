"""What the dashboard shows: totals and charts from the hourly aggregates, sessions
against the caps, queued tasks, and the accounts that need a look, each linked."""

import datetime as dt
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from popadmin.celery import app
from retrieval.models import (
    AccountClaim,
    GlobalSettings,
    HourlyStats,
    RemoteAccount,
    UserSettings,
)
from retrieval.ops import queries, queues
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def account(**fields):
    fields.setdefault("username", f"u{uuid.uuid4().hex[:8]}")
    fields.setdefault("host", "pop.example.net")
    return RemoteAccount.objects.create(owner=fields.pop("owner", None) or make_mailbox(),
                                        **fields)


def metric(html: bytes, name: str) -> str:
    found = re.search(rf'data-metric="{name}">([^<]*)<', html.decode())
    assert found, name
    return found.group(1)


def test_it_adds_up_the_last_24_hours_and_30_days_from_the_hourly_rows(admin_client):
    now = timezone.now()
    HourlyStats.record(status="ok", when=now, messages=5, bytes=2048, seconds=2)
    HourlyStats.record(status="error", when=now - dt.timedelta(hours=3))
    HourlyStats.record(status="partial", when=now - dt.timedelta(days=3), messages=7)
    HourlyStats.record(status="ok", when=now - dt.timedelta(days=40), messages=100)

    html = admin_client.get(reverse("dashboard")).content
    assert metric(html, "messages-24h") == "5"
    assert metric(html, "runs-24h") == "2"
    assert metric(html, "error-rate-24h") == "50.0 %"
    assert metric(html, "bytes-24h") == "2.0\xa0KB"
    assert "12 messages" in html.decode()  # 30 days: 5 + 7, not the 100 of 40 days ago
    # Six charts, drawn on the server, each bar with its exact figure on hover.
    assert html.count(b'<svg class="chart"') == 6
    assert b"messages 5" in html and b"error 1" in html


def test_it_counts_the_days_in_utc_whatever_the_time_zone(settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    now = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)
    HourlyStats.record(status="ok", when=now, messages=3)
    HourlyStats.record(status="ok", when=now - dt.timedelta(hours=23), messages=4)

    days = queries.daily(now)
    assert len(days) == 30 and days[-1].start == dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    assert days[-1].values["messages"] == 7
    assert len(queries.hourly(now)) == 24


def test_it_never_reads_the_run_table(admin_client):
    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get(reverse("dashboard")).status_code == 200
    assert not [q["sql"] for q in captured if "retrieval_run" in q["sql"]]


def test_it_shows_sessions_against_the_global_cap_and_per_server(admin_client):
    GlobalSettings.objects.update_or_create(pk=1, defaults={"max_concurrent_downloads": 7,
                                                            "max_sessions_per_host": 2})
    later = timezone.now() + dt.timedelta(minutes=5)
    for host in ("Mail.Example.com", "mail.example.com", "other.example"):
        account(host=host, lease_token=uuid.uuid4(), lease_expires=later)
    account(lease_token=uuid.uuid4(), lease_expires=timezone.now() - dt.timedelta(seconds=1))
    AccountClaim.objects.create(account=account(), until=later)

    data = queries.sessions()
    assert (data["running"], data["cap"], data["claimed"]) == (3, 7, 1)
    assert data["per_host"][0] == {"server": "mail.example.com", "n": 2}
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert metric(html.encode(), "sessions") == "3"
    assert "of 7" in html and "1 claimed, waiting for a worker" in html


def test_it_counts_the_tasks_waiting_in_each_queue(monkeypatch):
    # Queues of this test's own: a worker left running elsewhere (another
    # test, another session on the same broker) listens on the real ones and
    # would consume what is counted here.
    private = {name: f"test-{name}-{uuid.uuid4().hex[:8]}" for name in queues.QUEUES}
    monkeypatch.setattr(queues, "QUEUES", private)
    try:
        for _ in range(2):
            app.send_task("retrieval.tasks.dispatch_due", queue=private["interactive"])
        app.send_task("retrieval.tasks.fetch_account", args=(0, "schedule"),
                      queue=private["scheduled"])
        assert queues.depths() == {"interactive": 2, "scheduled": 1}
    finally:
        with app.connection_for_write() as conn:
            for name in private.values():
                conn.default_channel.queue_purge(name)
    assert queues.depths() == {"interactive": 0, "scheduled": 0}


def test_it_lists_the_accounts_that_need_a_look_with_links(admin_client):
    now = timezone.now()
    failing = account(consecutive_failures=4, failing_since=now - dt.timedelta(days=2),
                      last_status="error", last_error="authentication failed: [AUTH] nope")
    owner = make_mailbox()
    UserSettings.objects.create(mailbox=owner, poll_minutes=60)
    overdue = account(last_check=now - dt.timedelta(minutes=25), last_status="ok")
    # The owner polls hourly: 90 minutes is not twice that.
    account(owner=owner, last_check=now - dt.timedelta(minutes=90), last_status="ok")
    account(last_check=now - dt.timedelta(minutes=5), last_status="ok")  # fine
    disabled = account(enabled=False)
    insecure = account(verify_tls=False, last_check=now)
    plain = account(security="none", last_check=now)
    full = account(last_status="partial", last_check=now, last_error_kind="mailbox_full",
                   last_error="1 message(s) could not be delivered and stay on the server; "
                              "not delivered to a@x: mailbox full: a@x is over its 1 MB quota")
    # The words alone are no full mailbox: a remote server's error may say anything.
    account(last_status="error", last_check=now, last_error="server said: mailbox full")

    attention = queries.attention(now)
    ids = {key: [a.pk for a in v["rows"]] for key, v in attention.items()}
    assert ids["failing"] == [failing.pk]
    assert ids["overdue"] == [overdue.pk]
    assert ids["disabled"] == [disabled.pk]
    assert sorted(ids["insecure"]) == sorted([insecure.pk, plain.pk])
    assert ids["mailbox_full"] == [full.pk]

    html = admin_client.get(reverse("dashboard")).content.decode()
    for a in (failing, overdue, disabled, insecure, plain, full):
        assert reverse("admin:retrieval_remoteaccount_change", args=[a.pk]) in html
    assert "The server refused the username or password." in html  # plain words
    assert " · 4 · " in html  # attempts


def test_it_says_who_stopped_and_started_the_service(client, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "b@x.test", "x")
    client.force_login(boss)
    client.post(reverse("dashboard-service"), {"running": "0", "confirm": "1"})
    html = client.get(reverse("dashboard")).content.decode()
    assert "Stopped" in html and "stopped by boss" in html and "Start service" in html
    client.post(reverse("dashboard-service"), {"running": "1"})
    html = client.get(reverse("dashboard-live")).content.decode()
    assert "Running" in html and "started by boss" in html and "Stop service" in html


def test_it_lists_the_open_alert_episodes(admin_client):
    from retrieval.models import AlertEpisode

    now = timezone.now()
    AlertEpisode.objects.create(kind=AlertEpisode.Kind.SILENT, key="worker", opened=now,
                                summary="No worker has been seen since 12:00.")
    AlertEpisode.objects.create(kind=AlertEpisode.Kind.SILENT, key="beat", opened=now,
                                closed=now, summary="No beat (cleared).")

    page = admin_client.get(reverse("dashboard")).content.decode()

    assert "No worker has been seen since 12:00." in page
    assert "No beat (cleared)." not in page
