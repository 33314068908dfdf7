"""Accounts polled per minute: thousands of empty mailboxes on a real Dovecot,
through real Celery workers on the production stack (PostgreSQL + Redis),
against fetchmail --check and the same machine's raw rate for the same logins.

For POP3S, then IMAPS (TLS, certificate verified), each in the same run:

- raw (POP3S only): a minimal Python client (poplib: connect, login, STAT,
  QUIT) in N processes, the most this machine's Dovecot serves to Python;
- fetchmail --check (C), N processes, each polling its share from one rc
  file; what a classic poller achieves;
- popadmin: beat (dispatcher tick) and W workers x C processes; scheduled
  accounts go to cheap checks, POPADMIN_CHECK_BATCH per task (retrieval/
  check_batch.py; --check-batch 0: a full session per account, as before),
  every account polled once. Besides the rate, popadmin's own CPU per poll
  from /proc: the worker processes (Celery's parent and pool, beat) and the
  PostgreSQL backends connected to the bench's database.

Both contenders verify the server's certificate against the same CA file and
get the same number of processes (workers x concurrency): fetchmail cannot
poll two accounts at once in one process, so each of its processes takes its
accounts one after another; popadmin's processes check a batch's accounts
concurrently (asyncio, within the global cap), which is how it is built.
Everything runs on this machine, so all share its cores with Dovecot and
PostgreSQL. The database is a scratch one (created if missing); Redis is a
private redis-server on a free port. Dovecot runs with limits raised for
thousands of logins (BENCH_DOVECOT: login processes reused, which is also
what lets a TLS session be resumed).

    .venv/bin/python bench/polls_per_minute.py [--accounts 2000] [--protocol pop3|imap]
        [--workers 2] [--concurrency 2] [--check-batch 100] [--cap 400] [--tick 5]
    (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/bench_polls)
"""

import argparse
import multiprocessing
import os
import poplib
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import _proc_cpu  # noqa: E402
from bench._setup import scratch  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_polls"
PASSWORD = "benchpassword"  # one for all: fetchmail's rc format and bulk_create
# Thousands of logins at once: login processes that serve many connections
# ("high-performance mode"), and room for the connections themselves.
BENCH_DOVECOT = """
default_process_limit = 6000
default_client_limit = 12000
mail_max_userip_connections = 10000
service pop3-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 3000
}
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 3000
}
service auth {
  client_limit = 20000
}
"""


def setup(work: Path, redis_url: str, default_url: str = DEFAULT_URL):
    os.environ.setdefault("DATABASE_URL", default_url)
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["POPADMIN_DATA_DIR"] = str(work / "data")
    os.environ["MAIL_ROOT"] = str(work / "mail")
    os.environ["REDIS_URL"] = redis_url
    os.environ["POPADMIN_NO_BOOTSTRAP"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "popadmin.settings")
    from bench.dispatcher_tick import create_database

    create_database(os.environ["DATABASE_URL"])
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def start_redis(work: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0"


def create_accounts(dovecot, users, protocol: str, cap: int):
    from accounts.models import Mailbox
    from retrieval.models import GlobalSettings, RemoteAccount, Run

    Run.objects.all().delete()
    RemoteAccount.objects.all().delete()
    Mailbox.objects.filter(address__endswith="@bench.test").delete()
    GlobalSettings.load()
    # One server only, so no per-server limit; cap 0 is the automatic one
    # (one slot per ten accounts).
    GlobalSettings.objects.filter(pk=1).update(
        max_concurrent_downloads=cap, max_sessions_per_host=0, service_running=True
    )
    owners = Mailbox.objects.bulk_create(
        Mailbox(address=f"owner{i}@bench.test") for i in range(len(users) // 100 + 1)
    )
    probe = RemoteAccount(owner=owners[0])
    probe.set_password(PASSWORD)
    RemoteAccount.objects.bulk_create(
        RemoteAccount(owner=owners[i // 100], host="localhost", protocol=protocol,
                      port=dovecot.pop3s_port if protocol == "pop3" else dovecot.imaps_port,
                      username=user, password_encrypted=probe.password_encrypted,
                      keep_policy=RemoteAccount.Keep.KEEP)
        for i, user in enumerate(users)
    )


def _raw_poll(job):
    port, ca_file, users = job
    context = ssl.create_default_context(cafile=ca_file)
    for user in users:
        client = poplib.POP3_SSL("localhost", port, context=context, timeout=30)
        client.user(user)
        client.pass_(PASSWORD)
        client.stat()
        client.quit()
    return len(users)


def raw_rate(dovecot, users, procs: int) -> float:
    shares = [(dovecot.pop3s_port, str(dovecot.ca_file), users[i::procs]) for i in range(procs)]
    with multiprocessing.Pool(procs) as pool:
        started = time.perf_counter()
        done = sum(pool.map(_raw_poll, shares))
        seconds = time.perf_counter() - started
    return done / seconds * 60


def fetchmail_rate(dovecot, users, procs: int, work: Path, protocol: str):
    """(polls per minute, fetchmail's own CPU seconds per poll), or None."""
    if not shutil.which("fetchmail"):
        print("fetchmail not installed (apt-get install fetchmail): skipped")
        return None
    jobs = []
    port = dovecot.pop3s_port if protocol == "pop3" else dovecot.imaps_port
    for i in range(procs):
        home = work / f"fetchmail-{protocol}{i}"
        home.mkdir(exist_ok=True)
        rc = home / "fetchmailrc"
        lines = [f"poll localhost proto {protocol} port {port}"]
        lines += [f'  user "{u}" there with password "{PASSWORD}" is root here '
                  f'options ssl sslcertck sslcertfile "{dovecot.ca_file}"' for u in users[i::procs]]
        rc.write_text("\n".join(lines) + "\n")
        rc.chmod(0o600)
        jobs.append((home, rc))
    cpu_before = _children_cpu()
    server_before = _proc_cpu.tree_seconds(dovecot._proc.pid)
    started = time.perf_counter()
    running = [subprocess.Popen(
        ["fetchmail", "--check", "-N", "--nosyslog", "-f", str(rc), "--pidfile", str(home / "pid")],
        env=dict(os.environ, FETCHMAILHOME=str(home)), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for home, rc in jobs]
    outputs = [proc.communicate()[0] for proc in running]
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    server = _proc_cpu.tree_seconds(dovecot._proc.pid) - server_before
    checked = sum(out.count("No mail for") for out in outputs)
    if checked != len(users):
        print(f"fetchmail checked {checked} of {len(users)}:\n{outputs[0][-2000:]}")
    return checked / seconds * 60, cpu / max(checked, 1), server / max(checked, 1)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def popadmin_rate(dovecot, n, args, work: Path, redis_url: str):
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from retrieval.models import GlobalSettings, RemoteAccount, Run
    from retrieval.models.account import enabled_account_count
    from retrieval.ops import service
    from tests.workers import CeleryProcess, wait_for

    db = connection.settings_dict
    env = dict(os.environ, DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=redis_url,
               SECRET_KEY=settings.SECRET_KEY, POPADMIN_CA_FILE=str(dovecot.ca_file),
               POPADMIN_DISPATCH_SECONDS=str(args.tick),
               POPADMIN_CHECK_BATCH=str(args.check_batch))
    workers = [CeleryProcess("worker", work, name=f"bench{i}", env=env,
                             concurrency=args.concurrency) for i in range(args.workers)]
    beat = CeleryProcess("beat", work, name="bench", env=env)
    try:
        # Everything starts with the service stopped (ticks dispatch nothing), so
        # neither the rate nor the CPU counts start-up: the clock starts at the switch.
        GlobalSettings.objects.filter(pk=1).update(service_running=False)
        for worker in workers:
            worker.start()
        beat.start()
        time.sleep(2 * args.tick + 2)  # a few idle ticks: the pools have warmed up
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own_backend = cursor.fetchone()[0]
            pg_before = _proc_cpu.backend_seconds(cursor, db["NAME"])
        py_before = sum(_proc_cpu.tree_seconds(w.proc.pid) for w in [*workers, beat])
        server_before = _proc_cpu.tree_seconds(dovecot._proc.pid)
        started = timezone.now()
        # As an operator starts it (retrieval/ops/service.py): one tick at once.
        service.set_running(True)
        # Empty scheduled polls keep no Run row (docs/operators/history.md):
        # the account's last_check is what every poll leaves behind.
        polled = RemoteAccount.objects.filter(last_check__isnull=False)
        # Backends are read every second: one that closes before the end
        # keeps the CPU it was last seen with.
        pg_after: dict[int, float] = {}

        def done():
            with connection.cursor() as cursor:
                for pid, seconds in _proc_cpu.backend_seconds(cursor, db["NAME"]).items():
                    pg_after[pid] = max(seconds, pg_after.get(pid, 0.0))
            return polled.count() >= n

        wait_for(done, timeout=1800, interval=1, what="every account polled")
        py = sum(_proc_cpu.tree_seconds(w.proc.pid) for w in [*workers, beat]) - py_before
        server = _proc_cpu.tree_seconds(dovecot._proc.pid) - server_before
        done()
        pg_after.pop(own_backend, None)
        pg = _proc_cpu.backend_delta(pg_before, pg_after)
    finally:
        beat.stop()
        for worker in workers:
            worker.stop()
    finished = sorted(polled.values_list("last_check", flat=True))
    seconds = (finished[-1] - started).total_seconds()
    # Steady state: from the 10th to the 90th percentile of finishes.
    lo, hi = finished[n // 10], finished[n * 9 // 10]
    steady = (n * 8 // 10) / (hi - lo).total_seconds() * 60
    failed = polled.exclude(last_status=Run.Status.OK).count()
    kept = Run.objects.count()
    cap = GlobalSettings.load().effective_max_concurrent(enabled_account_count())
    print(f"  ({db['NAME']}, Redis {redis_url}, cap {cap}, tick {args.tick} s, check batch "
          f"{args.check_batch}, {failed} failed polls, {kept} Run rows kept)")
    from retrieval.models import CheckTotals

    totals = CheckTotals.objects.filter(pk=1).first() or CheckTotals()
    print(f"  (TLS sessions resumed so far: {totals.tls_resumed:,} of "
          f"{totals.tls_resumed + totals.tls_full:,} check handshakes)")
    return n / seconds * 60, steady, py / n, pg / n, server / n


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--protocol", action="append", choices=["pop3", "imap"],
                        help="one protocol only (default: POP3S, then IMAPS)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--check-batch", type=int, default=100,
                        help="accounts per cheap-check task (0: a full session each)")
    parser.add_argument("--cap", type=int, default=400,
                        help="maximum concurrent downloads (0: automatic)")
    parser.add_argument("--tick", type=float, default=2.0, help="dispatcher tick (s)")
    parser.add_argument("--raw-sample", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2,
                        help="each contender this many times, taking turns")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--skip", action="append", default=[], choices=["raw", "fetchmail"],
                        help="leave a peer out (to iterate on popadmin alone)")
    args = parser.parse_args()
    clients = args.workers * args.concurrency
    work = scratch("popadmin-polls-")
    work.chmod(0o755)
    redis_proc, redis_url = start_redis(work)
    from tests.dovecot import Dovecot

    dovecot = Dovecot(extra_config=BENCH_DOVECOT).start()
    try:
        setup(work, redis_url)
        started = time.perf_counter()
        users = [dovecot.add_user(f"b{i}", PASSWORD)[0] for i in range(args.accounts)]
        print(f"{args.accounts:,} empty accounts on Dovecot, {clients} worker processes, "
              f"(set up in {time.perf_counter() - started:.1f} s, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f})", flush=True)
        for protocol in args.protocol or ["pop3", "imap"]:
            compare(protocol, dovecot, users, args, work, redis_url, clients)
    finally:
        dovecot.stop()
        redis_proc.kill()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def reset_check_totals():
    from retrieval.models import CheckTotals

    CheckTotals.objects.all().delete()


def compare(protocol, dovecot, users, args, work, redis_url, clients):
    """Each contender in turn, `--rounds` times (the machine is shared: a round's
    neighbours differ), each round's ratio and the best rate of each."""
    label = {"pop3": "POP3S", "imap": "IMAPS"}[protocol]
    print(f"\n{label} (load {os.getloadavg()[0]:.1f})", flush=True)
    raw = None
    if "raw" not in args.skip and protocol == "pop3":
        raw = raw_rate(dovecot, users[: args.raw_sample], clients)
        print(f"raw Python POP3S login+STAT+QUIT: {raw:8,.0f} polls/min "
              f"({args.raw_sample:,} logins, {clients} processes)", flush=True)
    best = {"fetchmail": 0.0, "popadmin": 0.0, "steady": 0.0}
    for round_ in range(1, args.rounds + 1):
        print(f"round {round_} (load {os.getloadavg()[0]:.1f})", flush=True)
        fetchmail = None
        if "fetchmail" not in args.skip:
            found = fetchmail_rate(dovecot, users, clients, work, protocol)
            if found:
                fetchmail, cpu, server = found
                best["fetchmail"] = max(best["fetchmail"], fetchmail)
                print(f"fetchmail --check:                {fetchmail:8,.0f} polls/min "
                      f"({clients} processes), CPU per poll: fetchmail {cpu * 1000:.2f} ms, "
                      f"Dovecot {server * 1000:.2f} ms; load {os.getloadavg()[0]:.1f} after",
                      flush=True)
        create_accounts(dovecot, users, protocol, args.cap)
        reset_check_totals()
        ours, steady, py, pg, server = popadmin_rate(dovecot, len(users), args, work,
                                                     redis_url)
        best["popadmin"], best["steady"] = max(best["popadmin"], ours), max(best["steady"],
                                                                            steady)
        print(f"popadmin ({args.workers} workers x {args.concurrency}):         "
              f"{ours:8,.0f} polls/min overall, {steady:,.0f} steady (10th-90th percentile), "
              f"load {os.getloadavg()[0]:.1f} after")
        print(f"popadmin CPU per poll: {(py + pg) * 1000:.2f} ms "
              f"(Python {py * 1000:.2f} ms, PostgreSQL {pg * 1000:.2f} ms); "
              f"Dovecot {server * 1000:.2f} ms")
        if fetchmail:
            print(f"round {round_}: popadmin / fetchmail --check: {ours / fetchmail:.2f}x "
                  f"overall, {steady / fetchmail:.2f}x steady", flush=True)
    if best["fetchmail"]:
        print(f"{label} best of {args.rounds}: fetchmail {best['fetchmail']:,.0f}/min, popadmin "
              f"{best['popadmin']:,.0f}/min ({best['popadmin'] / best['fetchmail']:.2f}x), "
              f"steady {best['steady']:,.0f}/min ({best['steady'] / best['fetchmail']:.2f}x)")
    if raw:
        print(f"popadmin / raw: {best['popadmin'] / raw:.2f}x overall", flush=True)


if __name__ == "__main__":
    main()
