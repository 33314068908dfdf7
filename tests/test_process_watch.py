"""Workers and beat watch each other, and the operator sees how many workers
should be alive: a worker raises the "no beat" alert while beat is dead (the
alert task is sent by beat), /healthz fails and an alert opens below the
expected number of workers (POPADMIN_EXPECTED_WORKERS, shown on the
dashboard), and a dead process leaves the list once its host started its
replacement."""

import datetime as dt
import threading

import pytest
from django.urls import reverse
from django.utils import timezone

from retrieval import alerts
from retrieval.models import AlertEpisode, Heartbeat
from retrieval.ops import heartbeat, queries

pytestmark = pytest.mark.django_db

SILENT = dt.timedelta(minutes=5)


def process(role, hostname, pid, *, silent=False, started_ago=dt.timedelta(hours=1)):
    now = timezone.now()
    return Heartbeat.objects.create(role=role, hostname=hostname, pid=pid,
                                    started=now - started_ago,
                                    last_seen=now - SILENT if silent else now)


def test_healthz_fails_below_the_expected_number_of_workers(client, admin_client, settings):
    settings.POPADMIN_EXPECTED_WORKERS = 2
    process("worker", "w1@a", 10)
    process("worker", "w2@b", 20, silent=True)
    process("beat", "a", 30)

    report = client.get(reverse("healthz") + "?only=workers,beat").json()
    assert report["status"] == "failing"
    assert report["checks"]["workers"] == {"ok": False, "alive": 1, "expected": 2,
                                           "error": "only 1 of 2 expected workers alive"}
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert "1 worker alive of 2 expected" in html

    settings.POPADMIN_EXPECTED_WORKERS = 1
    assert client.get(reverse("healthz") + "?only=workers,beat").status_code == 200


def test_an_alert_opens_below_the_expected_number_of_workers(settings):
    settings.POPADMIN_EXPECTED_WORKERS = 2
    process("worker", "w1@a", 10)
    process("beat", "a", 30)

    alerts.evaluate(heartbeats=alerts.heartbeat_pairs())

    episode = AlertEpisode.objects.get(kind=AlertEpisode.Kind.SILENT)
    assert (episode.key, episode.summary) == ("worker", "Only 1 of 2 expected workers alive.")


@pytest.mark.django_db(transaction=True)
def test_a_worker_raises_the_alert_when_beat_is_dead(settings, monkeypatch):
    settings.POPADMIN_HEARTBEAT_SECONDS = 0.2
    monkeypatch.setattr(heartbeat, "ALERT_SECONDS", 0.5)
    process("beat", "a", 30, silent=True)  # killed: its row went silent
    stop = threading.Event()
    thread = threading.Thread(target=heartbeat._loop, args=("worker", "w1@a", 10, stop))
    thread.start()
    try:
        deadline = timezone.now() + dt.timedelta(seconds=20)
        while timezone.now() < deadline and not AlertEpisode.objects.filter(key="beat").exists():
            stop.wait(0.2)
    finally:
        stop.set()
        thread.join(timeout=10)
    episode = AlertEpisode.objects.get(kind=AlertEpisode.Kind.SILENT, key="beat")
    assert episode.summary.startswith("No beat has been seen since")


@pytest.mark.django_db(transaction=True)
def test_a_worker_leaves_the_alerts_to_a_live_beat(settings, monkeypatch):
    settings.POPADMIN_HEARTBEAT_SECONDS = 0.2
    monkeypatch.setattr(heartbeat, "ALERT_SECONDS", 0.2)
    evaluations = []
    monkeypatch.setattr(heartbeat, "_evaluate_alerts", lambda: evaluations.append(1))
    beat = process("beat", "a", 30)
    # Fresh for the whole test, whatever the short heartbeat interval says.
    Heartbeat.objects.filter(pk=beat.pk).update(last_seen=timezone.now() + dt.timedelta(hours=1))
    stop = threading.Event()
    thread = threading.Thread(target=heartbeat._loop, args=("worker", "w1@a", 10, stop))
    thread.start()
    stop.wait(1.5)
    stop.set()
    thread.join(timeout=10)
    assert evaluations == []


def test_a_replaced_process_leaves_the_list_a_side_by_side_one_stays():
    old = process("worker", "w1@a", 10, silent=True, started_ago=dt.timedelta(hours=2))
    new = process("worker", "w1@a", 11, started_ago=dt.timedelta(minutes=1))  # its replacement
    old_beat = process("beat", "b", 20, silent=True, started_ago=dt.timedelta(hours=2))
    new_beat = process("beat", "b", 21, started_ago=dt.timedelta(minutes=1))
    # Two workers of one host, side by side since an hour: one died, none replaced it.
    side = process("worker", "w2@c", 30, started_ago=dt.timedelta(hours=1))
    dead = process("worker", "w3@c", 31, silent=True, started_ago=dt.timedelta(hours=1))

    listed = {p["beat"].pk for p in queries.processes()}

    assert old.pk not in listed and old_beat.pk not in listed
    assert {new.pk, new_beat.pk, side.pk, dead.pk} <= listed


def test_a_starting_worker_ends_the_no_worker_alert_at_once(settings):
    # Beat started first and raised it; the worker's first heartbeat closes it
    # then, not at the next evaluation a minute later.
    process("beat", "a", 30)
    alerts.evaluate(heartbeats=alerts.heartbeat_pairs())
    assert [(e.kind, e.key) for e in alerts.open_episodes()] == [("silent", "worker")]

    heartbeat.beat("worker", "w1@a", 10)

    assert list(alerts.open_episodes()) == []
    episode = AlertEpisode.objects.get(kind="silent", key="worker")
    assert episode.closed is not None


def test_a_heartbeat_of_a_known_process_evaluates_nothing(monkeypatch):
    process("worker", "w1@a", 10)
    evaluations = []
    monkeypatch.setattr(heartbeat, "_evaluate_alerts", lambda: evaluations.append(1))

    heartbeat.beat("worker", "w1@a", 10)  # the row is there: an update only
    heartbeat.beat("worker", "w2@a", 20)  # a new process, with no alert open

    assert evaluations == []
