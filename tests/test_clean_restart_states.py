"""A clean restart of real worker and beat processes: each stop records itself, the
stopped rows read "stopped" (shown faded), never "silent" (red), and once the
replacements beat, the old rows leave the dashboard's list."""

import datetime as dt

import pytest
from django.utils import timezone

from popadmin.celery import app
from retrieval.models import Heartbeat
from retrieval.ops import queries
from tests.workers import CeleryProcess, process_env, start_together, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def start_both(tmp_path, env):
    return start_together(CeleryProcess("worker", tmp_path / "w", env=env, concurrency=1),
                          CeleryProcess("beat", tmp_path / "b", env=env))


def states(now=None):
    return {(p["beat"].role, p["beat"].pid): p["state"] for p in queries.processes(now)}


def test_a_clean_restart_fades_the_old_processes_then_drops_them(settings, tmp_path):
    settings.POPADMIN_HEARTBEAT_SECONDS = 1
    app.control.purge()
    env = process_env(POPADMIN_HEARTBEAT_SECONDS=1, POPADMIN_DISPATCH_SECONDS=60)
    (tmp_path / "w").mkdir()
    (tmp_path / "b").mkdir()
    worker, beat = start_both(tmp_path, env)
    try:
        wait_for(lambda: Heartbeat.alive().count() == 2, timeout=60, what="both heartbeats")
        old = {(hb.role, hb.pid) for hb in Heartbeat.objects.all()}
        worker.stop()
        beat.stop()
        assert all(hb.stopped for hb in Heartbeat.objects.all()), "a clean stop records itself"
        later = timezone.now() + dt.timedelta(minutes=5)
        assert set(states(later).values()) == {"stopped"}

        worker, beat = start_both(tmp_path, env)
        wait_for(lambda: Heartbeat.alive().count() == 2, timeout=60, what="the replacements")
        listed = states()
        assert not old & set(listed), "the replaced processes are still listed"
        assert set(listed.values()) == {"running"}
    finally:
        worker.stop()
        beat.stop()
