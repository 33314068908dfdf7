"""Each worker and beat process writes its own heartbeat row from a small thread.

Started from Celery's signals (connected in RetrievalConfig.ready): a
worker's main process when it is ready, beat when it starts. The thread
dies with the process, so a killed worker goes silent by itself; a clean
shutdown marks the row stopped.

Each side watches the other: beat evaluates the alerts every ALERT_SECONDS
(a "no worker seen" alert cannot come from the alert task, which runs on a
worker), and so does every worker while no beat is alive (the alert task
is sent by beat: with beat dead, it never runs).
"""

import importlib.metadata
import logging
import os
import socket
import threading

from celery import signals
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)

_state = {"thread": None, "stop": None, "key": None, "lock": None}


def version() -> str:
    try:
        return importlib.metadata.version("popadmin")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def beat(role: str, hostname: str, pid: int, started=None):
    """Touch (or create) the process's row; the service function behind the thread."""
    from retrieval.models import Heartbeat

    now = timezone.now()
    updated = Heartbeat.objects.filter(role=role, hostname=hostname, pid=pid).update(
        last_seen=now, stopped=None
    )
    if not updated:
        Heartbeat.objects.update_or_create(
            role=role, hostname=hostname, pid=pid,
            defaults={"version": version(), "started": started or now, "last_seen": now,
                      "stopped": None},
        )
        _close_silent_alert(role)


def _close_silent_alert(role: str):
    """A process's first heartbeat ends its role's "silent" alert at once, not at the next
    evaluation a minute on: the dashboard must not list "no worker seen" beside a running
    worker."""
    from retrieval.models import AlertEpisode

    if AlertEpisode.objects.filter(kind=AlertEpisode.Kind.SILENT, key=role,
                                   closed__isnull=True).exists():
        _evaluate_alerts()


# How often the heartbeat thread evaluates the alerts (alerts.SILENT_AFTER is a minute).
ALERT_SECONDS = 60.0


def _loop(role: str, hostname: str, pid: int, stop: threading.Event):
    started = timezone.now()
    # A worker gives beat a full interval to start before calling it dead.
    checked = started if role == "worker" else None
    while True:
        try:
            beat(role, hostname, pid, started)
            if role == "worker":
                _hold_worker_lock(hostname)
        except DatabaseError:
            # The database restarting: the next beat tries again; a silent row meanwhile is true.
            log.warning("heartbeat of %s %s not written", role, hostname, exc_info=True)
            close_old_connections()
        if _due(checked) and (role == "beat" or not _beat_alive()):
            # The alert task runs on a worker: when every worker is dead it never
            # runs, so beat itself raises the "no worker seen" alert. And beat
            # sends that task: with beat dead, the workers raise "no beat seen".
            checked = timezone.now()
            _evaluate_alerts()
        if stop.wait(settings.POPADMIN_HEARTBEAT_SECONDS):
            break
    connection.close()


def _hold_worker_lock(hostname: str):
    """Take the worker's own lock (retrieval/worker_lock.py), and take it again
    when its connection dropped (a database restart)."""
    from retrieval import worker_lock

    lock = _state.get("lock")
    if lock is not None and lock.alive():
        return
    if lock is not None:
        lock.release()
    lock = worker_lock.lock_for(hostname)
    _state["lock"] = lock if lock.acquire() else None


def _due(checked) -> bool:
    return checked is None or (timezone.now() - checked).total_seconds() >= ALERT_SECONDS


def _beat_alive() -> bool:
    from retrieval.models import Heartbeat

    try:
        return Heartbeat.alive().filter(role=Heartbeat.Role.BEAT).exists()
    except DatabaseError:
        close_old_connections()
        return True  # nothing known: the next minute asks again


def _evaluate_alerts():
    from retrieval import alerts

    try:
        alerts.evaluate(heartbeats=alerts.heartbeat_pairs())
    except Exception:  # a failed evaluation is retried next minute; beat goes on
        log.exception("alert evaluation in the heartbeat thread failed")
        close_old_connections()


def start(role: str, hostname: str):
    if _state["thread"] is not None:
        return
    stop = threading.Event()
    key = (role, hostname, os.getpid())
    thread = threading.Thread(target=_loop, args=(*key, stop), name=f"heartbeat-{role}",
                              daemon=True)
    _state.update(thread=thread, stop=stop, key=key)
    thread.start()


def stop():
    from retrieval.models import Heartbeat

    if _state["thread"] is None:
        return
    _state["stop"].set()
    _state["thread"].join(timeout=5)
    if _state.get("lock") is not None:
        _state["lock"].release()
        _state["lock"] = None
    role, hostname, pid = _state["key"]
    try:
        Heartbeat.objects.filter(role=role, hostname=hostname, pid=pid).update(
            stopped=timezone.now()
        )
    except DatabaseError:
        log.warning("could not mark %s %s stopped", role, hostname, exc_info=True)
    _state["thread"] = None


def _on_worker_ready(sender=None, **kwargs):
    # The worker's node name (w1@host) names it in Celery's own tools too.
    start("worker", getattr(sender, "hostname", None) or socket.gethostname())


def _on_worker_shutdown(sender=None, **kwargs):
    stop()


def _on_beat_init(sender=None, **kwargs):
    start("beat", socket.gethostname())
    import atexit

    atexit.register(stop)


def connect():
    signals.worker_ready.connect(_on_worker_ready, dispatch_uid="popadmin-heartbeat-worker")
    signals.worker_shutdown.connect(_on_worker_shutdown, dispatch_uid="popadmin-heartbeat-stop")
    signals.beat_init.connect(_on_beat_init, dispatch_uid="popadmin-heartbeat-beat")
