"""Hundreds of accounts through three real worker processes on real Dovecot,
on whichever stack this session runs (SQLite + filesystem broker, or
PostgreSQL + Redis): every message delivered exactly once, one session per
account at a time, and the global cap and the per-server limit held at every
instant, measured from the Run rows' own start and finish times."""

import re
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db.models.functions import Lower

from popadmin.celery import app
from retrieval import dispatcher
from retrieval.models import GlobalSettings, RemoteAccount, Run
from tests.factories import local_messages, make_account
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

ACCOUNTS = 300
WORKERS = 3
# Both names reach the same Dovecot; "LocalHost" is "localhost" to the limit.
HOSTS = ("localhost", "127.0.0.1", "LocalHost")
# The cap is below the sum of the per-server limits (2 + 2), so both bind.
CAP, PER_HOST = 3, 2
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)$", re.MULTILINE | re.IGNORECASE)


def peak(intervals) -> int:
    """Most intervals open at one instant; one that ends as another starts does not overlap."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda e: (e[0], e[1]))
    open_now = best = 0
    for _, step in events:
        open_now += step
        best = max(best, open_now)
    return best


def message_ids(messages) -> list[bytes]:
    return [MESSAGE_ID.search(m).group(1) for m in messages]


@pytest.mark.timeout(300)
def test_it_spreads_hundreds_of_accounts_over_workers_within_the_limits(dovecot, tmp_path):
    began = time.monotonic()
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        max_concurrent_downloads=CAP, max_sessions_per_host=PER_HOST
    )
    accounts, expected = [], []
    for i in range(ACCOUNTS):
        user, password = dovecot.add_user()
        # At least one message each: a scheduled poll that finds nothing keeps
        # no Run row, and the spans of every session are measured below.
        dovecot.deliver_many(user, 1 + i % 4, size=512)
        expected += message_ids(dovecot.messages(user))
        accounts.append(make_account(dovecot, user, password, host=HOSTS[i % len(HOSTS)]))
    assert len(set(expected)) == len(expected) == sum(1 + i % 4 for i in range(ACCOUNTS))
    app.control.purge()
    env = process_env(POPADMIN_CA_FILE=dovecot.ca_file)
    workers = [CeleryProcess("worker", tmp_path, name=f"scale{n}", env=env,
                             queues=("interactive", "celery")) for n in range(WORKERS)]
    setup = time.monotonic() - began
    try:
        # Started side by side: each takes seconds to import Django and connect.
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(CeleryProcess.start, workers))
        started = time.monotonic()

        def all_done():
            # A tick as beat sends them with POPADMIN_DISPATCH_SECONDS=1; in
            # between, each finished session hands its slot on (the cap binds).
            dispatcher.dispatch()
            return Run.objects.exclude(status=Run.Status.RUNNING).count() >= ACCOUNTS

        wait_for(all_done, timeout=200, interval=1, what="every account's first run")
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            worker.stop()

    runs = list(Run.objects.annotate(host_key=Lower("account__host")).values(
        "account_id", "host_key", "started", "finished", "status", "error", "delivered"))
    assert [r for r in runs if r["status"] != Run.Status.OK] == []
    per_account = defaultdict(list)
    for r in runs:
        per_account[r["account_id"]].append((r["started"], r["finished"]))
    assert set(per_account) == {a.pk for a in accounts}
    assert all(peak(spans) == 1 for spans in per_account.values())  # one session at a time

    overall = peak([(r["started"], r["finished"]) for r in runs])
    per_host = {host: peak([(r["started"], r["finished"]) for r in runs if r["host_key"] == host])
                for host in {r["host_key"] for r in runs}}
    assert overall <= CAP
    assert set(per_host) == {"localhost", "127.0.0.1"}
    assert all(n <= PER_HOST for n in per_host.values()), per_host

    delivered = Counter(mid for a in accounts for mid in message_ids(local_messages(a.owner)))
    assert [mid for mid, n in delivered.items() if n > 1] == []
    assert sorted(delivered) == sorted(expected)
    assert all(dovecot.messages(a.username) == [] for a in accounts)
    assert not RemoteAccount.objects.filter(lease_token__isnull=False).exists()

    busy = sum((r["finished"] - r["started"]).total_seconds() for r in runs)
    served = [w.log().count("] received") for w in workers]
    assert all(served), served  # every worker took its share
    print(f"\n{ACCOUNTS} accounts, {len(expected)} messages, {WORKERS} workers: "
          f"setup {setup:.1f} s, all runs done in {elapsed:.1f} s "
          f"(mean run {busy / len(runs) * 1000:.0f} ms, slots busy {busy / elapsed / CAP:.0%}); "
          f"peak sessions {overall} (cap {CAP}), per server {per_host} (limit {PER_HOST}); "
          f"tasks received per worker {served}")
