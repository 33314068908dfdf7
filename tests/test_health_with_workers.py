"""/healthz, /metrics and the container healthcheck against real worker and beat
processes: healthy while both write heartbeats, failing once one is killed."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from popadmin.celery import app
from retrieval.models import Heartbeat
from tests.workers import CeleryProcess, process_env, start_together, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

BEAT_SECONDS = 1


def health(client):
    response = client.get(reverse("healthz"))
    return response.status_code, json.loads(response.content)


def metric(admin_client, name):
    for line in admin_client.get(reverse("metrics")).content.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def test_it_reports_workers_and_beat_up_then_down(client, admin_client, settings, tmp_path):
    settings.POPADMIN_HEARTBEAT_SECONDS = BEAT_SECONDS
    app.control.purge()
    env = process_env(POPADMIN_HEARTBEAT_SECONDS=BEAT_SECONDS, POPADMIN_DISPATCH_SECONDS=60)
    worker, beat = start_together(CeleryProcess("worker", tmp_path, env=env, concurrency=1),
                                  CeleryProcess("beat", tmp_path, env=env))
    try:
        status, body = wait_for(lambda: (r := health(client))[0] == 200 and r, timeout=30,
                                what="a healthy report")
        assert body["checks"]["workers"] == {"ok": True, "alive": 1}
        assert body["checks"]["beat"] == {"ok": True, "alive": 1}
        assert metric(admin_client, "popadmin_workers_alive") == 1
        assert metric(admin_client, "popadmin_beat_alive") == 1
        row = Heartbeat.objects.get(role="worker")
        assert row.hostname.startswith("w1@") and row.pid == worker.proc.pid and row.version
        host = row.hostname.split("@", 1)[1]
        call_command("healthcheck", "--role", "worker", "--hostname", host)
        call_command("healthcheck", "--role", "beat", "--hostname",
                     Heartbeat.objects.get(role="beat").hostname)

        worker.kill()
        status, body = wait_for(lambda: (r := health(client))[0] == 503 and r, timeout=30,
                                what="the killed worker to go silent")
        assert body["status"] == "failing"
        assert body["checks"]["workers"]["ok"] is False
        assert "no worker heard from since" in body["checks"]["workers"]["error"]
        assert body["checks"]["beat"]["ok"] is True
        assert metric(admin_client, "popadmin_workers_alive") == 0
        with pytest.raises(CommandError, match="no worker"):
            call_command("healthcheck", "--role", "worker", "--hostname", host)

        beat.stop()  # a clean stop marks the row stopped at once
        assert Heartbeat.objects.get(role="beat").stopped is not None
        assert health(client)[1]["checks"]["beat"]["ok"] is False
    finally:
        worker.stop()
        beat.stop()


def test_it_reports_only_what_was_asked(client):
    status, body = health(client)
    assert status == 503  # no worker, no beat
    response = client.get(reverse("healthz") + "?only=database,broker")
    assert response.status_code == 200
    assert set(json.loads(response.content)["checks"]) == {"database", "broker"}


def test_it_reports_a_broker_that_does_not_answer(client, settings, tmp_path):
    if settings.REDIS_URL:
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
    else:
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
            **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            "data_folder_in": str(tmp_path / "missing")}
    response = client.get(reverse("healthz") + "?only=database,broker")
    body = json.loads(response.content)
    assert response.status_code == 503
    assert body["checks"]["database"]["ok"] and not body["checks"]["broker"]["ok"]
