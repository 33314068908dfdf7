"""Fault soak: one fault at a time against the production stack, with mail flowing.

Its own PostgreSQL cluster and Redis on free ports, a real Dovecot with
ACCOUNTS accounts (POP3S, every fourth IMAPS, checked every minute, deleting
at the source), the mail root on a small tmpfs of its own, two Celery workers,
beat and a gunicorn web process, as the product runs. New mail keeps arriving
(RATE a second, each message with a unique X-Soak-Id header) while these
faults are applied, each followed by a recovery window:

  broker        Redis stopped BROKER_DOWN s, started again on the same port (empty)
  db-fast       pg_ctl restart -m fast
  db-immediate  pg_ctl restart -m immediate (a crash and recovery)
  server-stall  every Dovecot process SIGSTOPped for twice the accounts' timeout
  disk-full     the mail root filled to the last byte, then the filler removed
  worker-kill   one worker's processes SIGKILLed, restarted WORKER_DOWN s later
  beat-kill     beat SIGKILLed, restarted BEAT_DOWN s later

Just before each fault every account is made due, so the fault finds the cap in
use and tasks queued (as in a busy hour, or after a service stop).

For each fault it prints:
- lost: seeded, minus in a local Maildir, minus still on the server (must be 0);
- duplicates: a message in the local Maildirs twice (by X-Soak-Id; must be 0);
- stall: from the fault's end (the part is back), the longest stretch during
  which some account was due with mail on the server and nothing at all was
  delivered; in dispatcher ticks too (the goal: at most two);
- the longest one account waited, due with mail, with nothing delivered from it,
  the time to the first delivery, and the oldest queued claim seen;
- what the operator saw: /healthz over HTTP during the fault and its window,
  open alerts and failing accounts at the worst moment, the runs' errors.
A table at the end; exit status 1 if anything was lost or duplicated (and with
--strict, if a stall was longer than two ticks).

    .venv/bin/python bench/fault_soak.py [--quick] [--only broker --only disk-full ...]
        [--accounts 40] [--messages 400] [--rate 1] [--tick 5] [--timeout 10] [--keep]

Needs root (Dovecot, the tmpfs mount, initdb run as the postgres user).
"""

import argparse
import datetime as dt
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _soak_report as report  # noqa: E402
from bench import _soak_stack as stack  # noqa: E402
from bench._soak_watch import Health, Ledger, Seeder, Watch, db  # noqa: E402

PASSWORD = "soakpassword"
FULL = dict(accounts=40, messages=400, rate=1.0, size=4096, tick=5.0, timeout=10,
            min_window=60, max_window=330, broker_down=8, worker_down=90, beat_down=90,
            disk_seconds=30, warmup=120, drain=120, disk_mb=256, claim_hold=300, heartbeat=20)
QUICK = dict(accounts=12, messages=60, rate=3.0, size=4096, tick=2.0, timeout=3,
             min_window=8, max_window=16, broker_down=6, worker_down=8, beat_down=8,
             disk_seconds=6, warmup=30, drain=30, disk_mb=64, claim_hold=30, heartbeat=2)


class Soak:
    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.pg = stack.Postgres(work)
        self.redis = stack.Redis(work)
        self.disk = stack.MailDisk(work / "mail", args.disk_mb)
        self.dovecot = None
        self.processes: dict[str, stack.Process] = {}
        self.down: set[str] = set()  # stopped on purpose: the supervisor leaves them be
        self.exits: list[tuple[float, str, str]] = []  # (time, process, last log line)
        self.seeder = self.watch = self.health = None
        self.started = time.time()

    # -- set-up ------------------------------------------------------------

    def start(self):
        from tests.dovecot import Dovecot

        self.pg.start()
        self.redis.start()
        self.disk.mount()
        self.dovecot = Dovecot().start()
        env = {
            "DATABASE_URL": self.pg.url, "REDIS_URL": self.redis.url, "SECRET_KEY": "soak",
            "POPADMIN_DATA_DIR": str(self.work / "data"), "MAIL_ROOT": str(self.disk.path),
            "POPADMIN_CA_FILE": str(self.dovecot.ca_file), "POPADMIN_NO_BOOTSTRAP": "1",
            # The mail root is a small tmpfs: healthy until the disk fault fills it.
            "POPADMIN_MIN_FREE_MB": "8",
            # Two workers run: one killed must show on /healthz and open an alert.
            "POPADMIN_EXPECTED_WORKERS": "2",
            "POPADMIN_DISPATCH_SECONDS": str(self.args.tick),
            "POPADMIN_CLAIM_HOLD_SECONDS": str(self.args.claim_hold),
            "POPADMIN_HEARTBEAT_SECONDS": str(self.args.heartbeat),
            "DJANGO_SETTINGS_MODULE": "popadmin.settings",
        }
        os.environ.update(env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        accounts = self.create_accounts()
        self.seeder = Seeder(self.dovecot, [user for user, _ in accounts.values()], self.args.size)
        for i in range(self.args.messages):
            self.seeder.seed(self.seeder.users[i % len(self.seeder.users)])
        env = dict(os.environ)
        web_port = stack.free_port()
        self.processes["web"] = stack.web(env, self.work, web_port)
        for i in (1, 2):
            self.processes[f"worker{i}"] = stack.celery("worker", f"worker{i}", env, self.work,
                                                        self.args.concurrency)
        self.processes["beat"] = stack.celery("beat", "beat", env, self.work)
        for process in self.processes.values():
            process.start()
        self.health = Health(f"http://127.0.0.1:{web_port}/healthz", every=1.0)
        self.health.start()
        self.watch = Watch(Ledger(self.dovecot, accounts), self.health,
                           interval=0.5 if self.args.quick else 1.0)
        self.watch.supervisors.append(self.supervise)

    def create_accounts(self) -> dict:
        from retrieval.models import GlobalSettings
        from tests.factories import make_account

        GlobalSettings.load()
        GlobalSettings.objects.filter(pk=1).update(
            max_sessions_per_host=0, service_running=True, poll_minutes=1,
            timeout_seconds=self.args.timeout, connection_retries=2, retry_seconds=5,
            alert_after_minutes=1,
        )
        accounts = {}
        for i in range(self.args.accounts):
            user, _ = self.dovecot.add_user(f"soak{i}", PASSWORD)
            account = make_account(self.dovecot, user, PASSWORD,
                                   protocol="imap" if i % 4 == 3 else "pop3")
            accounts[account.pk] = (user, Path(account.owner.maildir))
        return accounts

    def supervise(self):
        """Restart a process that died by itself, as a service manager would."""
        for name, process in self.processes.items():
            if name in self.down or process.alive():
                continue
            last = process.tail(400).strip().splitlines()[-1:] or ["(no output)"]
            self.exits.append((time.time(), name, last[0][:160]))
            self.down.add(name)

            def restart(name=name, process=process):
                try:
                    process.start()
                finally:
                    self.down.discard(name)

            threading.Thread(target=restart, daemon=True).start()

    def stop(self):
        for name in ("beat", "worker1", "worker2", "web"):
            if name in self.processes:
                self.down.add(name)
                self.processes[name].stop()
        if self.health:
            self.health.stop()
        if self.seeder:
            self.seeder.stop()
        if self.dovecot:
            self.dovecot_signal(signal.SIGCONT)
            self.dovecot.stop()
        self.redis.stop()
        self.pg.stop()
        self.disk.unmount()

    # -- faults: each returns once the faulty part is back -------------------

    # Each makes every account due once the fault is on (mail meets the
    # fault), and calls height() at its worst: what the operator sees then.

    def broker(self):
        self.redis.stop()
        self.make_due(wait=False)
        time.sleep(self.args.broker_down)
        self.height()
        self.redis.start()

    def db_fast(self):
        self.pg.down("fast")
        self.height()
        self.pg.up()

    def db_immediate(self):
        self.pg.down("immediate")
        self.height()
        self.pg.up()

    def server_stall(self):
        self.dovecot_signal(signal.SIGSTOP)
        self.make_due(wait=False)
        time.sleep(2 * self.args.timeout)
        self.height()
        self.dovecot_signal(signal.SIGCONT)

    def disk_full(self):
        self.disk.fill()
        self.make_due(wait=False)
        time.sleep(self.args.disk_seconds)
        self.height()
        self.disk.free()

    def worker_kill(self):
        self.restart_killed("worker1", self.args.worker_down)

    def beat_kill(self):
        self.restart_killed("beat", self.args.beat_down)

    def restart_killed(self, name: str, down: float):
        self.down.add(name)
        self.processes[name].kill()
        self.make_due(wait=False)
        time.sleep(down)
        self.height()
        try:
            self.processes[name].start()
        finally:
            self.down.discard(name)

    def height(self):
        """/healthz and the open alerts as the fault is at its worst (this
        thread's own database connection, closed after)."""
        from django.db import connection

        from bench._soak_watch import operator_view

        health = self.health.probe()
        self.peak = (health, db(operator_view))
        connection.close()

    def dovecot_signal(self, sig):
        # Dovecot's master runs in a session of its own (tests/dovecot.py): its
        # process group is every Dovecot process, logins and sessions included.
        proc = getattr(self.dovecot, "_proc", None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)

    # -- the run -------------------------------------------------------------

    def make_due(self, wait: bool):
        """Every account that is not backing off due now; with `wait`, return
        once the dispatcher has queued some (so a fault finds tasks in flight)."""
        from django.utils import timezone

        from retrieval.models import AccountClaim, RemoteAccount

        db(lambda: RemoteAccount.objects.filter(consecutive_failures=0)
           .update(next_check=timezone.now()))
        if wait:
            self.watch.run_for(3 * self.args.tick,
                               stop=lambda: db(AccountClaim.objects.exists, False))

    def settle(self):
        """Before a fault: wait out what the last one left (claims of lost tasks
        run out after the claim hold), so each fault is measured on its own."""
        from django.utils import timezone

        from retrieval.models import AccountClaim

        def settled():
            # A claim made over two ticks ago runs out before now + hold - 2 ticks.
            now = timezone.now()
            old = now + dt.timedelta(seconds=self.args.claim_hold - 2 * self.args.tick)
            stuck = db(lambda: AccountClaim.objects.filter(until__gt=now, until__lt=old)
                       .exists(), True)
            return not stuck and self.recovered(0, 0)

        self.watch.run_for(self.args.claim_hold + 4 * self.args.tick, stop=settled)

    def apply(self, key: str, label: str) -> dict:
        self.settle()
        self.make_due(wait=True)
        began = time.time()
        result = {}
        self.peak = None

        def run():
            try:
                getattr(self, key.replace("-", "_"))()
            except BaseException as exc:  # reported, and the soak goes on to the next fault
                result["error"] = f"{type(exc).__name__}: {exc}"
            result["back"] = time.time()

        fault = threading.Thread(target=run, name=key, daemon=True)
        fault.start()
        while fault.is_alive():
            self.watch.run_for(self.watch.interval)
        back = result["back"]
        # Work to recover on: accounts are checked once a minute, so without
        # this most would not be due again within a short window.
        self.make_due(wait=False)
        a = self.args
        self.watch.run_for(a.max_window, stop=lambda: self.recovered(back, a.min_window))
        return report.fault_figures(self, key, label, began, back, time.time(), result)

    def recovered(self, back: float, min_window: float) -> bool:
        """The window has lasted its minimum, mail was delivered since the fault's
        end, and no account has been waiting longer than two ticks."""
        now = time.time()
        if now - back < min_window or not any(t >= back for t, _ in self.watch.deliveries):
            return False
        recent = [s for s in self.watch.samples if s.t >= now - 2 * self.args.tick]
        if not recent or any(s.waiting is None for s in recent):
            return False
        return not frozenset.intersection(*[s.waiting for s in recent])

    def drain(self):
        """No new mail; every account due at once; wait for the servers to empty."""
        self.seeder.stop()
        self.make_due(wait=True)
        self.watch.run_for(self.args.drain, stop=lambda: not any(self.watch.ledger.on_server()
                                                                 .values()))


FAULTS = [
    ("broker", "broker restart"),
    ("db-fast", "database restart (fast)"),
    ("db-immediate", "database restart (immediate)"),
    ("server-stall", "remote server stalled"),
    ("disk-full", "local disk full"),
    ("worker-kill", "worker killed"),
    ("beat-kill", "beat killed"),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer accounts and messages, short windows (about 3 minutes)")
    parser.add_argument("--only", action="append", choices=[k for k, _ in FAULTS],
                        help="run only this fault (repeatable)")
    for name, value in FULL.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=None,
                            help=f"default {value} ({QUICK[name]} with --quick)")
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker")
    parser.add_argument("--strict", action="store_true",
                        help="also exit 1 when a stall lasted longer than two ticks")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: Dovecot, the tmpfs mount and initdb need it")
    work = Path(tempfile.mkdtemp(prefix="popadmin-soak-"))
    work.chmod(0o755)
    soak = Soak(args, work)
    started = time.time()
    try:
        soak.start()
        print(report.header(soak), flush=True)
        soak.seeder.start(args.rate)
        # Warm-up: until the first messages are all stored (every account has run).
        soak.watch.run_for(args.warmup, stop=lambda: sum(
            1 for sid in soak.watch.ledger.on_disk() if sid <= args.messages) >= args.messages)
        results = []
        for key, label in FAULTS:
            if args.only and key not in args.only:
                continue
            results.append(soak.apply(key, label))
            print(report.fault_block(results[-1], args.tick), flush=True)
        soak.drain()
        final = report.final_ledger(soak)
        print(report.table(results, final, args.tick, time.time() - started), flush=True)
    finally:
        soak.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    bad = final["lost"] or final["duplicates"] or any(r["lost"] or r["duplicates"]
                                                       for r in results)
    slow = any(r["stall"].seconds > 2 * args.tick for r in results)
    return 1 if bad or (args.strict and slow) else 0


if __name__ == "__main__":
    sys.exit(main())
