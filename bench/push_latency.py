"""Push latency: N IMAP accounts in IDLE on a real Dovecot, mail delivered through LMTP.

One watcher (`manage.py watch`) holds an IDLE connection per account; a real
Celery worker fetches what it pushes. Messages go into random accounts through
Dovecot's LMTP at a steady rate; the latency of each is from the LMTP answer
(delivered at the server) to its file in the local Maildir (the ctime of its
link into new/). Then the watcher is killed, a few messages are delivered
while nobody watches, and another watcher is started: every message must
arrive, and push must be back for every account within 60 s.

For comparison, scheduled polling at the default interval (no push): a
message waits for the next poll, uniformly over the interval, so its
latency is that wait plus one fetch; computed from the interval and the
median fetch measured here.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<scratch db> \\
        .venv/bin/python bench/push_latency.py [--accounts 1000] [--rate 5] [--seconds 60]

Dovecot runs with raised limits (below) so that it holds the connections:
its login processes in "performance mode" (each proxies many TLS
connections) and up to 3,000 imap processes (one per connection).
"""

import argparse
import os
import random
import shutil
import signal
import smtplib
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._setup import scratch  # noqa: E402
from bench.polls_per_minute import setup, start_redis  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_push"
PASSWORD = "benchpassword"
TARGETS = {"p95": 2.0, "p99": 5.0, "cpu": 5.0, "rss": 300.0, "restore": 60.0}

# mailbox_idle_check_interval: Dovecot's IDLE learns of new mail through
# inotify, one instance per imap process, and the kernel allows 128 per user
# (fs.inotify.max_user_instances) by default; past that an IDLE process looks
# only every 30 s. Asked every second instead, Dovecot's own delay stays
# under a second for every account without changing the machine's settings.
DOVECOT_LIMITS = """
mailbox_idle_check_interval = 1 secs
default_process_limit = 4000
default_client_limit = 20000
default_vsz_limit = 1G
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 5000
}
service imap {
  process_limit = 3000
}
service auth {
  client_limit = 20000
}
service anvil {
  client_limit = 20000
}
"""


def create_accounts(dovecot, users):
    import datetime as dt

    from django.utils import timezone

    from accounts.models import Mailbox
    from retrieval.models import (
        GlobalSettings,
        PushLatency,
        PushWatch,
        PushWatcher,
        RemoteAccount,
        Run,
    )

    for model in (Run, PushWatch, PushWatcher, RemoteAccount, PushLatency):
        model.objects.all().delete()
    Mailbox.objects.filter(address__endswith="@bench.test").delete()
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        max_concurrent_downloads=0, max_sessions_per_host=0, service_running=True)
    owners = Mailbox.objects.bulk_create(
        Mailbox(address=f"{user}@bench.test") for user in users)
    probe = RemoteAccount(owner=owners[0])
    probe.set_password(PASSWORD)
    # Scheduled polls far off: what arrives here, push brought.
    later = timezone.now() + dt.timedelta(days=1)
    accounts = RemoteAccount.objects.bulk_create(
        RemoteAccount(owner=owner, protocol="imap", security="tls", host="localhost",
                      port=dovecot.imaps_port, username=user, next_check=later,
                      password_encrypted=probe.password_encrypted)
        for owner, user in zip(owners, users, strict=True))
    maildirs = {user: Path(owner.maildir) / "new"
                for owner, user in zip(owners, users, strict=True)}
    return maildirs, [a.pk for a in accounts]


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_count(watcher: str | None = None) -> int:
    from django.utils import timezone

    from retrieval.models import PushWatch

    rows = PushWatch.objects.filter(state=PushWatch.State.IDLE, until__gte=timezone.now())
    if watcher:
        rows = rows.filter(watcher=watcher)
    return rows.count()


class Arrivals:
    """Watches the local Maildirs of the accounts that are waiting for a message."""

    def __init__(self, maildirs: dict):
        self.maildirs = maildirs
        self.sent: dict[str, tuple[str, float]] = {}  # token -> (user, delivered at)
        self.arrived: dict[str, float] = {}
        self.seen_files: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def expect(self, token: str, user: str, when: float):
        with self.lock:
            self.sent[token] = (user, when)

    def pending(self) -> list[str]:
        with self.lock:
            return [t for t in self.sent if t not in self.arrived]

    def _run(self):
        while not self.stop.is_set():
            with self.lock:
                users = {self.sent[t][0] for t in self.sent if t not in self.arrived}
            for user in users:
                folder = self.maildirs[user]
                try:
                    names = os.listdir(folder)
                except FileNotFoundError:
                    continue
                for name in names:
                    if name in self.seen_files:
                        continue
                    path = folder / name
                    try:
                        data = path.read_bytes()
                        ctime = path.stat().st_ctime
                    except FileNotFoundError:
                        continue
                    self.seen_files.add(name)
                    for line in data.split(b"\n"):
                        if line.startswith(b"Subject: bench "):
                            with self.lock:
                                self.arrived[line.split()[-1].decode()] = ctime
                            break
            time.sleep(0.05)

    def latencies(self) -> list[float]:
        with self.lock:
            return sorted(self.arrived[t] - when for t, (_, when) in self.sent.items()
                          if t in self.arrived)


def deliver(lmtp_port: int, user: str, token: str) -> float:
    message = (f"From: bench@example.test\r\nTo: {user}@bench.test\r\n"
               f"Message-ID: <{token}@bench.test>\r\nSubject: bench {token}\r\n\r\n"
               + "push latency bench line\r\n" * 40).encode()
    lmtp = smtplib.LMTP("127.0.0.1", lmtp_port, timeout=30)
    try:
        lmtp.sendmail("bench@example.test", [user], message)
    finally:
        lmtp.quit()
    return time.time()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return sorted(values)[k]


def wait(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady run")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    work = scratch("popadmin-push-")
    work.chmod(0o755)
    redis_proc, redis_url = start_redis(work)
    from tests.dovecot import Dovecot

    dovecot = Dovecot(extra_config=DOVECOT_LIMITS).start()
    procs = []
    try:
        setup(work, redis_url, DEFAULT_URL)
        from django.conf import settings

        from retrieval.models import GlobalSettings, PushLatency, Run
        from tests.workers import CeleryProcess, WatchProcess

        started = time.perf_counter()
        users = [dovecot.add_user(f"p{i}", PASSWORD)[0] for i in range(args.accounts)]
        maildirs, ids = create_accounts(dovecot, users)
        env = dict(os.environ, SECRET_KEY=settings.SECRET_KEY,
                   POPADMIN_CA_FILE=str(dovecot.ca_file), REDIS_URL=redis_url)
        print(f"{args.accounts:,} IMAPS accounts on Dovecot (set up in "
              f"{time.perf_counter() - started:.1f} s, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f})", flush=True)

        worker = CeleryProcess("worker", work, name="bench", env=env,
                               concurrency=args.concurrency,
                               queues=("interactive", "celery")).start()
        procs.append(worker)
        watcher = WatchProcess(work, name="watch-a", env=env).start()
        procs.append(watcher)
        t0 = time.monotonic()
        wait(lambda: idle_count() >= args.accounts, 600, "every account in IDLE", 1.0)
        print(f"watcher A: {args.accounts:,} accounts in IDLE after "
              f"{time.monotonic() - t0:.1f} s", flush=True)

        # Idle cost: a quiet stretch with every connection held.
        pid = watcher.proc.pid
        cpu0, wall0 = proc_cpu_seconds(pid), time.monotonic()
        time.sleep(20)
        idle_cpu = (proc_cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 100

        arrivals = Arrivals(maildirs)
        rng = random.Random(7)
        n = int(args.rate * args.seconds)
        cpu0, wall0 = proc_cpu_seconds(pid), time.monotonic()
        next_at = time.monotonic()
        for _ in range(n):
            token = uuid.uuid4().hex
            user = rng.choice(users)
            when = deliver(dovecot.lmtp_port, user, token)
            arrivals.expect(token, user, when)
            next_at += 1 / args.rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        wait(lambda: not arrivals.pending(), 120, "every message in the local Maildir", 0.2)
        busy_cpu = (proc_cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 100
        rss = proc_rss_mb(pid)
        lat = arrivals.latencies()
        p50, p95, p99 = (percentile(lat, p) for p in (50, 95, 99))

        # Kill the watcher; mail keeps coming while nobody watches; start another.
        watcher.kill(signal.SIGKILL)
        killed = time.monotonic()
        gap = []
        for _ in range(10):
            token = uuid.uuid4().hex
            user = rng.choice(users)
            arrivals.expect(token, user, deliver(dovecot.lmtp_port, user, token))
            gap.append(token)
            time.sleep(0.5)
        second = WatchProcess(work, name="watch-b", env=env).start()
        procs.append(second)
        restored = wait(lambda: idle_count("watch-b") >= args.accounts, 300,
                        "push restored for every account", 0.5) - killed
        wait(lambda: not arrivals.pending(), 180, "the messages sent while nobody watched", 0.5)
        lost = [t for t in gap if t not in arrivals.arrived]
        arrivals.stop.set()

        # Scheduled polling at the default interval, for comparison.
        interval = GlobalSettings.load().poll_minutes * 60
        fetches = [r.duration.total_seconds() for r in Run.objects.filter(
            account_id__in=ids, trigger=Run.Trigger.PUSH, delivered__gt=0) if r.duration]
        fetch = statistics.median(fetches) if fetches else 0.0
        poll = {p: interval * p / 100 + fetch for p in (50, 95, 99)}
        buckets, count, total = PushLatency.cumulative()

        print(f"\npush, {len(lat)} of {n} messages at {args.rate:g}/s into random accounts "
              f"(delivered at the server -> file in the local Maildir):")
        print(f"  p50 {p50:.2f} s   p95 {p95:.2f} s   p99 {p99:.2f} s   max {lat[-1]:.2f} s"
              f"   (targets: p95 <= {TARGETS['p95']:g} s, p99 <= {TARGETS['p99']:g} s)")
        print(f"  watcher: {idle_cpu:.2f} % of one core idle, {busy_cpu:.2f} % while pushing, "
              f"RSS {rss:.0f} MB   (targets: < {TARGETS['cpu']:g} %, "
              f"< {TARGETS['rss']:g} MB)")
        print(f"  /metrics popadmin_push_latency_seconds: {count} observed, "
              f"mean {total / count if count else 0:.2f} s (EXISTS seen -> session end)")
        print(f"watcher killed: {len(gap) - len(lost)} of {len(gap)} messages sent while "
              f"nobody watched arrived; push back for all {args.accounts:,} accounts "
              f"{restored:.1f} s after the kill (target < {TARGETS['restore']:g} s)")
        print(f"scheduled polling every {interval / 60:g} min (computed: uniform wait + median "
              f"fetch {fetch:.2f} s): p50 {poll[50]:.0f} s   p95 {poll[95]:.0f} s   "
              f"p99 {poll[99]:.0f} s")
        print(f"(load {os.getloadavg()[0]:.1f} at the end; database "
              f"{os.environ['DATABASE_URL'].rsplit('/', 1)[1]})")
    finally:
        for proc in reversed(procs):
            proc.stop()
        dovecot.stop()
        redis_proc.kill()
        redis_proc.wait()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
