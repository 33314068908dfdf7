"""Dispatcher time per tick with 100,000 accounts in PostgreSQL (target: < 1 s).

Creates the accounts once (bulk_create) in a scratch database, then times
dispatcher ticks with the enqueue stubbed out, at several due fractions. A
tick after the first also "finishes" what the previous one claimed, as
workers would, so each tick sees a realistic number of claims in flight.
Also times one admission at session start (the count of live leases under
the global lock) with a thousand sessions running.

    .venv/bin/python bench/dispatcher_tick.py [--accounts 100000] [--ticks 5]
    (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/bench_dispatch)
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_dispatch"
# Hosts: a few big providers and a long tail, like a real installation.
BIG_HOSTS = ["pop.gmail.example", "imap.outlook.example", "pop.gmx.example"]


def setup_django():
    os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("POPADMIN_DATA_DIR", tempfile.mkdtemp(prefix="popadmin-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "popadmin.settings")
    os.environ["POPADMIN_NO_BOOTSTRAP"] = "1"
    sys.path.insert(0, str(ROOT))
    create_database(os.environ["DATABASE_URL"])
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def create_database(url: str):
    """CREATE DATABASE if missing (a scratch one: never the real data)."""
    import psycopg
    from psycopg import sql

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def populate(n: int):
    from django.db import connection

    from accounts.models import Mailbox
    from retrieval.models import GlobalSettings, RemoteAccount

    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        max_concurrent_downloads=0, max_sessions_per_host=3, service_running=True
    )
    if RemoteAccount.objects.count() == n:
        return
    RemoteAccount.objects.all().delete()
    Mailbox.objects.filter(address__endswith="@bench.test").delete()
    owners = Mailbox.objects.bulk_create(
        Mailbox(address=f"user{i}@bench.test") for i in range(n // 100)
    )
    secret = RemoteAccount(owner=owners[0])
    secret.set_password("bench password")  # one ciphertext for all: encryption is not timed
    rng = random.Random(1)
    started = time.perf_counter()
    for start in range(0, n, 5000):
        RemoteAccount.objects.bulk_create(
            RemoteAccount(
                owner=owners[i // 100],
                host=rng.choice(BIG_HOSTS) if i % 10 < 4 else f"pop.provider{i % 2000}.example",
                username=f"u{i}",
                password_encrypted=secret.password_encrypted,
                enabled=i % 50 != 0,  # 2% switched off
            )
            for i in range(start, min(start + 5000, n))
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE retrieval_remoteaccount")
    print(f"created {n:,} accounts in {time.perf_counter() - started:.1f} s")


def spread(due_fraction: float):
    """Make about this fraction due (waiting up to 10 minutes), the rest due later."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM retrieval_accountclaim")
        cursor.execute(
            """UPDATE retrieval_remoteaccount SET pending_trigger = '',
                   lease_token = NULL, lease_expires = NULL,
                   next_check = CASE WHEN random() < %s
                       THEN now() - random() * interval '10 minutes'
                       ELSE now() + interval '1 minute' + random() * interval '9 minutes' END""",
            [due_fraction],
        )
    with connection.cursor() as cursor:
        # What autovacuum does after a mass update in production.
        cursor.execute("VACUUM ANALYZE retrieval_remoteaccount")
        cursor.execute("VACUUM ANALYZE retrieval_accountclaim")


def finish(pks):
    """What the workers would do with a tick's claims: check, and schedule the next."""
    from django.utils import timezone

    from retrieval.models import AccountClaim, RemoteAccount

    later = timezone.now() + dt.timedelta(minutes=10)
    for start in range(0, len(pks), 5000):
        AccountClaim.objects.filter(account__in=pks[start : start + 5000]).delete()
        RemoteAccount.objects.filter(pk__in=pks[start : start + 5000]).update(next_check=later)


def time_ticks(fraction: float, ticks: int):
    from retrieval import dispatcher
    from retrieval.models import RemoteAccount

    spread(fraction)
    due = RemoteAccount.objects.filter(enabled=True, next_check__lte=dt.datetime.now(dt.UTC))
    waiting = due.count()
    times, claims, previous = [], [], []
    for _ in range(ticks):
        finish(previous)
        started = time.perf_counter()
        previous = dispatcher.dispatch(lambda pk, trigger: None)
        times.append(time.perf_counter() - started)
        claims.append(len(previous))
    print(f"due {fraction:>6.1%} ({waiting:>6,} waiting): tick "
          f"median {statistics.median(times) * 1000:6.1f} ms, max {max(times) * 1000:6.1f} ms; "
          f"claimed per tick {claims}")
    return max(times)


def time_admission(running: int):
    """One session start (count live leases under the lock) with `running` sessions live."""
    from django.utils import timezone

    from retrieval import admission
    from retrieval.models import GlobalSettings, RemoteAccount
    from retrieval.models.account import enabled_account_count

    GlobalSettings.objects.filter(pk=1).update(max_sessions_per_host=0)
    spread(0.0)
    # Below the automatic cap, with room for the probes: a small --accounts has a small cap.
    cap = GlobalSettings.load().effective_max_concurrent(enabled_account_count())
    running = min(running, cap - 25)
    pks = list(RemoteAccount.objects.filter(enabled=True).values_list("pk", flat=True)[:running])
    RemoteAccount.objects.filter(pk__in=pks).update(
        lease_token=uuid.uuid4(), lease_expires=timezone.now() + dt.timedelta(minutes=5)
    )
    probe = list(RemoteAccount.objects.filter(enabled=True, lease_token__isnull=True)[:20])
    times = []
    for account in probe:
        started = time.perf_counter()
        admitted = admission.admit(account, 60, "manual")
        times.append(time.perf_counter() - started)
        assert admitted, admitted.reason
        account.release_lease(admitted.token)
    GlobalSettings.objects.filter(pk=1).update(max_sessions_per_host=3)
    print(f"session start with {running:,} sessions running (auto cap "
          f"{GlobalSettings.load().effective_max_concurrent(enabled_account_count()):,}): median "
          f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")


def explain():
    """The plans of the dispatcher's queries, with the last tick's claims still live."""
    from django.db import connection
    from django.utils import timezone

    from retrieval import due_scan
    from retrieval.models import RemoteAccount
    from retrieval.models.account import in_flight, live_claim, live_lease

    def show(name, plan):
        print(f"{name} plan:", " / ".join(line.strip() for line in plan.splitlines()[:6]))

    now = timezone.now()
    query = (RemoteAccount.objects.filter(enabled=True, pending_trigger="", next_check__lte=now)
             .exclude(live_lease(now)).exclude(live_claim(now))
             .order_by("next_check", "pk").values_list("pk", "host")[:1000])
    show("due scan", query.explain())
    for name, part in zip(("leased", "queued"), in_flight(now), strict=True):
        show(f"in flight ({name})", part.values_list("host").explain())
    sql = due_scan._SQL.format(table="retrieval_remoteaccount", claims="retrieval_accountclaim")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, {"now": now, "limit": 3, "full": []})
        plan = [row[0] for row in cursor.fetchall()]
    # Each server's first accounts, and the claims probed for them.
    per_server = next(i for i, line in enumerate(plan) if "Anti Join" in line)
    show("per-server due scan (each server)", "\n".join(plan[per_server:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    populate(args.accounts)
    print(f"{args.accounts:,} accounts in {connection.settings_dict['NAME']}; "
          "per-server limit 3, cap automatic")
    worst = max(time_ticks(f, args.ticks) for f in (0.001, 0.01, 0.025, 0.1, 1.0))
    explain()
    time_admission(1000)
    print(f"slowest tick {worst * 1000:.0f} ms (target < 1000 ms)")


if __name__ == "__main__":
    main()
