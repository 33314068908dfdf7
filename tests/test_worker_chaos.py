"""Recovery without help: a worker SIGKILLed mid-session and (on Redis) the
broker restarted empty mid-run; beat keeps dispatching, and everything is
collected in the end, each message exactly once, nothing left running.

On the production stack the test starts its own Redis (no persistence, so a
restart loses every queued and unacknowledged task, as a real one would
without AOF); on the embedded stack the filesystem broker keeps queued tasks
on disk, so there the worker kill alone is the scenario. Either way the
lost work comes back through the dispatcher: a claim runs out
(POPADMIN_CLAIM_HOLD_SECONDS), or a dead session's lock is gone with its
worker (retrieval.locks; the lease here is an hour, so nothing else can free
it in time), and the account is due again.
"""

import contextlib
import re
import signal
import socket
import subprocess
import time
from collections import Counter

import pytest
import redis
from django.conf import settings

from retrieval.models import GlobalSettings, RemoteAccount, Run
from retrieval.status import reap_stale_runs
from tests.factories import local_messages, make_account
from tests.workers import CeleryProcess, process_env, start_together, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# Enough that sessions are still running when the broker is killed: with
# three messages per pass, each session spans several passes and reconnects.
ACCOUNTS, MESSAGES, SIZE = 24, 24, 40_000
CONCURRENCY = 3
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)$", re.MULTILINE | re.IGNORECASE)
# The stack decides what can fail: a Redis broker can be restarted empty.
BROKER = "redis" if settings.REDIS_URL else "filesystem"


class RedisServer:
    """A private, non-persistent redis-server on a free loopback port."""

    def __init__(self, folder):
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        wait_for(lambda: self._ping(client), timeout=10, interval=0.05, what="redis-server")
        return self

    @staticmethod
    def _ping(client):
        with contextlib.suppress(redis.ConnectionError):
            return client.ping()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def message_ids(messages) -> list[bytes]:
    return [MESSAGE_ID.search(m).group(1) for m in messages]


def running() -> int:
    return Run.objects.filter(status=Run.Status.RUNNING).count()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("broker", [BROKER])
def test_it_collects_everything_after_a_killed_worker_and_a_lost_broker(
    dovecot, tmp_path, broker
):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        max_concurrent_downloads=2 * CONCURRENCY, max_sessions_per_host=0,
        timeout_seconds=1, connection_retries=1, retry_seconds=0, messages_per_download=3,
    )
    accounts, expected = [], []
    for _ in range(ACCOUNTS):
        user, password = dovecot.add_user()
        dovecot.deliver_many(user, MESSAGES, size=SIZE)
        expected += message_ids(dovecot.messages(user))
        accounts.append(make_account(dovecot, user, password))
    server = RedisServer(tmp_path).start() if broker == "redis" else None
    env = process_env(
        POPADMIN_CA_FILE=dovecot.ca_file, POPADMIN_LEASE_SECONDS=3600,
        POPADMIN_CLAIM_HOLD_SECONDS=5, POPADMIN_DISPATCH_SECONDS=1,
        # A broker of its own: the Redis above, or a fresh filesystem folder.
        REDIS_URL=server.url if server else "",
        POPADMIN_DATA_DIR=tmp_path / "data",
    )
    procs = []

    def made(kind, name):
        return CeleryProcess(kind, tmp_path, name=name, env=env, concurrency=CONCURRENCY)

    def start(kind, name):
        proc = made(kind, name)
        procs.append(proc.start())
        return proc

    events = []
    try:
        victim, survivor, beat = start_together(
            made("worker", "victim"), made("worker", "survivor"), made("beat", "beat"))
        procs.extend((victim, survivor, beat))
        # More sessions running than one worker has processes: one is the victim's.
        wait_for(lambda: running() > CONCURRENCY, timeout=60, interval=0.01,
                 what="both workers in sessions")
        victim.kill()
        events.append(f"SIGKILL worker with {running()} sessions running")
        start("worker", "replacement")
        if server:
            wait_for(lambda: running() >= 2, timeout=30, interval=0.01, what="sessions again")
            server.kill()
            events.append(f"SIGKILL redis with {running()} sessions running")
            time.sleep(1)
            server.start()
            events.append("redis restarted, empty")
        began = time.monotonic()

        def collected():
            # The restart policy of a real deployment (docker-compose
            # `restart: unless-stopped`): Celery 5.7's worker can exit when
            # Redis drops while it holds unacknowledged tasks (kombu's Redis
            # channel fails restoring them: "Unrecoverable error:
            # AttributeError ... 'hostname'"); a fresh one takes its place.
            for proc in [p for p in procs if p.kind == "worker" and p is not victim]:
                if proc.proc.poll() is not None and proc.proc.returncode is not None:
                    proc.stop()
                    procs.remove(proc)
                    events.append(f"a worker exited ({proc.proc.returncode}), restarted")
                    start("worker", f"restart{len(events)}")
            local = sum(len(local_messages(a.owner)) for a in accounts)
            return local >= len(expected) and all(
                dovecot.messages(a.username) == [] for a in accounts)

        wait_for(collected, timeout=150, interval=0.5, what="every message collected")
        recovered = time.monotonic() - began
    finally:
        for proc in procs:
            proc.stop()
        if server:
            server.kill()

    delivered = Counter(m for a in accounts for m in message_ids(local_messages(a.owner)))
    assert [mid for mid, n in delivered.items() if n > 1] == []
    assert sorted(delivered) == sorted(expected)
    assert all(dovecot.messages(a.username) == [] for a in accounts)
    # The killed sessions end as errors as soon as their locks are seen gone
    # (polled: on PostgreSQL the server drops a dead worker's connection with
    # a short delay); nothing stays running, no lease stays taken.
    def all_ended():
        reap_stale_runs()
        return not Run.objects.filter(status=Run.Status.RUNNING).exists()

    wait_for(all_ended, timeout=30, interval=0.2, what="every killed session to be ended")
    runs = Run.objects.all()
    killed = runs.filter(status=Run.Status.ERROR)
    assert killed.exists() and all("stopped unexpectedly" in r.error for r in killed)
    assert not RemoteAccount.objects.filter(lease_token__isnull=False).exists()
    if server:  # the restart really cut the workers off their broker
        assert "Connection to broker lost" in survivor.log()
    print(f"\n{broker}: {'; '.join(events)}; all {len(expected)} messages of {ACCOUNTS} accounts "
          f"collected {recovered:.1f} s later; {killed.count()} killed session(s) reaped; "
          f"{runs.count()} runs in all")
