"""Dashboard render time with 1,000,000 runs in PostgreSQL (target: < 300 ms).

Fills a scratch database once: ~10,000 accounts (some failing, disabled,
insecure, overdue, a few sessions running), 1,000,000 runs (generate_series,
so it takes seconds, not minutes) and 30 days of hourly aggregates; then
renders /dashboard/ and its live fragment through the Django test client and
prints median and p95.

    .venv/bin/python bench/dashboard_render.py [--renders 30] [--runs 1000000]
    (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/bench_dash)
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_dash")

from dispatcher_tick import setup_django  # noqa: E402

ACCOUNTS = 10_000


def populate(runs: int):
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Mailbox
    from retrieval.models import GlobalSettings, HourlyStats, RemoteAccount, Run
    from retrieval.models.stats import floor_hour

    GlobalSettings.load()
    if Run.objects.count() >= runs and RemoteAccount.objects.count() == ACCOUNTS:
        return
    Run.objects.all().delete()
    RemoteAccount.objects.all().delete()
    HourlyStats.objects.all().delete()
    Mailbox.objects.filter(address__endswith="@bench.test").delete()
    owners = Mailbox.objects.bulk_create(
        Mailbox(address=f"user{i}@bench.test") for i in range(ACCOUNTS // 10))
    now = timezone.now()
    later = now + dt.timedelta(minutes=5)
    RemoteAccount.objects.bulk_create(
        RemoteAccount(
            owner=owners[i // 10], host=f"pop.provider{i % 300}.example", username=f"u{i}",
            enabled=i % 50 != 0,
            verify_tls=i % 97 != 0,
            last_check=now - dt.timedelta(minutes=(45 if i % 71 == 0 else i % 9)),
            last_status="error" if i % 37 == 0 else "ok",
            last_error="authentication failed: [AUTH] Invalid credentials" if i % 37 == 0 else "",
            consecutive_failures=3 if i % 37 == 0 else 0,
            failing_since=now - dt.timedelta(hours=5) if i % 37 == 0 else None,
            lease_token=uuid.uuid4() if i % 500 == 0 else None,
            lease_expires=later if i % 500 == 0 else None,
        )
        for i in range(ACCOUNTS)
    )
    first, last = RemoteAccount.objects.order_by("pk").values_list("pk", flat=True)[::ACCOUNTS - 1]
    with connection.cursor() as cursor:
        # One run every ~2.6 s over 30 days, spread over every account.
        cursor.execute(
            """
            INSERT INTO retrieval_run (account_id, trigger, started, finished, status, seen,
                fetched, delivered, duplicates, deleted, failed, bytes, total, error, notes)
            SELECT %s + (g %% %s), 'schedule',
                   now() - (g * interval '30 days' / %s),
                   now() - (g * interval '30 days' / %s) + interval '2 seconds',
                   CASE WHEN g %% 37 = 0 THEN 'error' ELSE 'ok' END,
                   g %% 5, g %% 3, g %% 3, 0, g %% 3, 0, (g %% 3) * 20000, g %% 3, '', '[]'
            FROM generate_series(1, %s) AS g
            """,
            [first, last - first + 1, runs, runs, runs],
        )
        cursor.execute("VACUUM ANALYZE")
    hour = floor_hour(now)
    HourlyStats.objects.bulk_create(
        HourlyStats(hour=hour - dt.timedelta(hours=h), runs_ok=1300, runs_error=35,
                    messages=900 + h % 24 * 10, delivered=900, bytes=18_000_000, seconds=2800,
                    duration_le_5=1335)
        for h in range(30 * 24)
    )


def timed(client, url: str, renders: int) -> list[float]:
    times = []
    for _ in range(renders):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1_000_000)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    started = time.perf_counter()
    populate(args.runs)
    print(f"database ready in {time.perf_counter() - started:.1f} s")
    from retrieval.models import Run

    print(f"runs: {Run.objects.count():,}")
    user, _ = get_user_model().objects.get_or_create(
        username="bench-ops", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    for url in ("/dashboard/", "/dashboard/live", "/metrics"):
        timed(client, url, 2)  # warm: templates, connection
        times = sorted(timed(client, url, args.renders))
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"{url:<16} median {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms   "
              f"({args.renders} renders)")


if __name__ == "__main__":
    main()
