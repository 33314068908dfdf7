"""POP3S throughput through real Celery workers on the production stack
(PostgreSQL + Redis), next to `fetch --all` on the same data and database.

Each contender gets a fresh copy of the same data on one real Dovecot:
ACCOUNTS accounts x MESSAGES messages x SIZE bytes, over TLS with the
certificate verified, delivered into Maildir, deleted at the source.

- fetch --all: the command, called in-process on the same PostgreSQL;
- workers: beat (dispatcher tick) and W workers x C processes, the way the
  product runs; timed from beat's start until every message is delivered,
  the server is empty and no session runs.

The per-server limit is lifted for both (every account is on localhost).
The database is a scratch one (created if missing); Redis is a private
redis-server on a free port.

    .venv/bin/python bench/workers_throughput.py [--accounts 10] [--messages 200]
        [--size 8192] [--workers 1] [--concurrency 4] [--tick 1]
    (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/bench_workers)
"""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_workers")
from bench._setup import scratch  # noqa: E402
from bench.polls_per_minute import setup, start_redis  # noqa: E402
from bench.pop3_vs_peers import PASSWORD, check_drained  # noqa: E402


def seed(dovecot, n_accounts, n, size):
    users = [dovecot.add_user(password=PASSWORD) for _ in range(n_accounts)]
    for user, _password in users:
        dovecot.deliver_many(user, n, size=size)
    return users


def fresh_accounts(dovecot, users):
    from retrieval.models import GlobalSettings, RemoteAccount, Run
    from tests.factories import make_account

    Run.objects.all().delete()
    RemoteAccount.objects.all().delete()
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_sessions_per_host=0, service_running=True)
    return [make_account(dovecot, u, p) for u, p in users]


def delivered(accounts) -> int:
    from tests.factories import local_messages

    return sum(len(local_messages(a.owner)) for a in accounts)


def run_fetch_all(dovecot, users, n) -> float:
    from django.core.management import call_command

    accounts = fresh_accounts(dovecot, users)
    started = time.perf_counter()
    call_command("fetch", every=True, stdout=open(os.devnull, "w"))
    seconds = time.perf_counter() - started
    if delivered(accounts) != n * len(users):
        raise SystemExit(f"fetch --all delivered {delivered(accounts)} of {n * len(users)}")
    check_drained(dovecot, users, "fetch --all")
    return seconds


def run_workers(dovecot, users, n, args, work: Path, redis_url: str) -> float:
    from django.conf import settings

    from retrieval.models import Run
    from tests.workers import CeleryProcess, wait_for

    accounts = fresh_accounts(dovecot, users)
    env = dict(os.environ, REDIS_URL=redis_url, SECRET_KEY=settings.SECRET_KEY,
               POPADMIN_CA_FILE=str(dovecot.ca_file), POPADMIN_DISPATCH_SECONDS=str(args.tick))
    workers = [CeleryProcess("worker", work, name=f"tp{i}", env=env,
                             concurrency=args.concurrency) for i in range(args.workers)]
    beat = CeleryProcess("beat", work, name="tp", env=env)
    total = n * len(users)

    def done():
        return (delivered(accounts) >= total and not any(dovecot.messages(u) for u, _ in users)
                and not Run.objects.filter(status=Run.Status.RUNNING).exists())

    try:
        for worker in workers:
            worker.start()
        started = time.perf_counter()
        beat.start()
        wait_for(done, timeout=1800, interval=0.1, what="every message delivered")
        seconds = time.perf_counter() - started
    finally:
        beat.stop()
        for worker in workers:
            worker.stop()
    failed = Run.objects.exclude(status=Run.Status.OK).count()
    got = delivered(accounts)
    if got != total or failed:
        raise SystemExit(f"workers delivered {got} of {total}, {failed} failed runs")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--tick", type=float, default=1.0, help="dispatcher tick (s)")
    args = parser.parse_args()
    work = scratch("popadmin-workers-")
    work.chmod(0o755)
    redis_proc, redis_url = start_redis(work)
    from tests.dovecot import Dovecot

    dovecot = Dovecot().start()
    try:
        setup(work, redis_url)
        from django.conf import settings

        settings.POPADMIN_CA_FILE = str(dovecot.ca_file)
        total = args.accounts * args.messages
        results = {}
        users = seed(dovecot, args.accounts, args.messages, args.size)
        results["fetch --all"] = run_fetch_all(dovecot, users, args.messages)
        users = seed(dovecot, args.accounts, args.messages, args.size)
        results["workers"] = run_workers(dovecot, users, args.messages, args, work, redis_url)
        print(f"{args.accounts} accounts x {args.messages} messages x {args.size} B over POP3S, "
              f"deleting, PostgreSQL + Redis ({os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f})")
        for name, seconds in results.items():
            label = name if name != "workers" else f"workers ({args.workers} x {args.concurrency})"
            print(f"{label:20}: {total} in {seconds:6.2f} s = {total / seconds:6.0f} msg/s")
        print(f"workers / fetch --all: {results['fetch --all'] / results['workers']:.2f}x")
    finally:
        dovecot.stop()
        redis_proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
