"""A broker restart stalls retrieval for a dispatcher tick or two, not for the
claims' hold: the tasks lost with a Redis of the test's own keep no account
and no slot, and the surviving worker starts the account's session within
seconds of the broker's return. Production stack only (a Redis broker)."""

import socket
import subprocess
import time

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from popadmin.celery import app
from retrieval import dispatcher
from retrieval.models import AccountClaim, GlobalSettings, Run
from tests.factories import make_account
from tests.workers import CeleryProcess, process_env, start_together, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A Redis of this test's own, without persistence: a restart loses every task."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, timeout=10, interval=0.05, what="the private Redis")

    def answers(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def queued(self, queue) -> int:
        import redis

        return redis.Redis.from_url(self.url).llen(queue)


@pytest.fixture
def private_redis():
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("the production stack's broker (Redis) is what restarts here")
    broker = PrivateRedis()
    broker.start()
    yield broker
    broker.stop()


@pytest.mark.timeout(180)
def test_the_tasks_a_broker_restart_lost_hold_nothing_for_long(
        private_redis, dovecot, mail_user, tmp_path):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        max_concurrent_downloads=1, timeout_seconds=5, connection_retries=1, retry_seconds=0)
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user)

    def publish(pk, trigger):
        task_id = AccountClaim.objects.get(account_id=pk).task_id
        with app.connection_for_write(private_redis.url) as conn:
            app.send_task(dispatcher.FETCH_TASK, (pk, trigger), task_id=task_id,
                          queue=dispatcher.queue_for(trigger), connection=conn)

    # A tick claims the account (the whole cap) and queues its task...
    assert dispatcher.dispatch(publish) == [account.pk]
    assert private_redis.queued(dispatcher.SCHEDULE_QUEUE) == 1
    # ...and the broker restarts without it.
    private_redis.stop()
    time.sleep(2)
    private_redis.start()
    assert private_redis.queued(dispatcher.SCHEDULE_QUEUE) == 0
    back = time.monotonic()

    env = process_env(REDIS_URL=private_redis.url, POPADMIN_CA_FILE=dovecot.ca_file,
                      POPADMIN_DISPATCH_SECONDS=1)
    procs = [CeleryProcess("worker", tmp_path, env=env, concurrency=1),
             CeleryProcess("beat", tmp_path, env=env)]
    try:
        start_together(*procs)
        # Not after the claim's hold (five minutes): within the pick-up grace and a tick.
        run = wait_for(lambda: Run.objects.filter(account=account).first(), timeout=40,
                       interval=0.2, what="the account's session after the restart")
        stalled = time.monotonic() - back
        wait_for(lambda: Run.objects.filter(pk=run.pk).exclude(status="running").exists(),
                 timeout=60, what="the session's end")
    finally:
        for proc in procs:
            proc.stop()

    run.refresh_from_db()
    assert run.status == Run.Status.OK and run.delivered == 2, run.error
    assert "released 1 claim(s) whose task was lost" in procs[0].log()
    assert stalled < 40


@pytest.mark.timeout(240)
def test_a_broker_restart_under_running_workers_stalls_a_tick_or_two(
        private_redis, dovecot, tmp_path):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        max_concurrent_downloads=2, messages_per_download=10, duplicate_check=False,
        max_sessions_per_host=0, timeout_seconds=5, connection_retries=1, retry_seconds=0)
    long_user, short_user = dovecot.add_user(), dovecot.add_user()
    dovecot.deliver_many(long_user[0], 1000, size=20_000)
    dovecot.deliver_many(short_user[0], 2)
    busy = make_account(dovecot, *long_user)
    env = process_env(REDIS_URL=private_redis.url, POPADMIN_CA_FILE=dovecot.ca_file,
                      POPADMIN_DISPATCH_SECONDS=1)
    # One process for the scheduled checks: the second account's task waits in
    # the broker while the first runs. The dispatcher's ticks have their own.
    procs = [CeleryProcess("worker", tmp_path, name="fetch", env=env, concurrency=1,
                           queues=(dispatcher.SCHEDULE_QUEUE,)),
             CeleryProcess("worker", tmp_path, name="ticks", env=env, concurrency=1,
                           queues=(dispatcher.INTERACTIVE_QUEUE,)),
             CeleryProcess("beat", tmp_path, env=env)]
    try:
        start_together(*procs)
        wait_for(lambda: Run.objects.filter(account=busy, status="running", fetched__gt=0)
                 .exists(), timeout=60, interval=0.05, what="the long session under way")
        waiting = make_account(dovecot, *short_user)
        wait_for(lambda: AccountClaim.objects.filter(account=waiting).exists(), timeout=20,
                 interval=0.05, what="the second account claimed")
        private_redis.stop()  # its task goes with the broker
        assert AccountClaim.objects.filter(account=waiting).exists()
        assert Run.objects.filter(account=busy, status="running").exists()
        assert not Run.objects.filter(account=waiting).exists()
        time.sleep(3)
        private_redis.start()
        returned = timezone.now()

        run = wait_for(lambda: Run.objects.filter(account=waiting).first(), timeout=150,
                       interval=0.2, what="the second account's session")
        wait_for(lambda: Run.objects.filter(pk=run.pk).exclude(status="running").exists(),
                 timeout=60, what="its end")
    finally:
        for proc in procs:
            proc.stop()

    run.refresh_from_db()
    assert run.status == Run.Status.OK and run.delivered == 2, run.error
    # It starts once the broker is back and the one worker process is free
    # again, within the pick-up grace and a tick or so: not after the claim's
    # five-minute hold.
    busy_run = Run.objects.filter(account=busy).order_by("pk").first()
    free = max(returned, busy_run.finished or returned)
    waited = (run.started - free).total_seconds()
    assert waited < 20, f"{waited:.1f} s between broker and worker free and the next session"
    print(f"\nnext session {waited:.1f} s after the broker was back and the worker free")
