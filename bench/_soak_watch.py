"""What the fault soak (bench/fault_soak.py) puts in and what it sees.

- Seeder: new mail into the real Dovecot, each message with a unique
  X-Soak-Id header, by writing into its Maildir (so mail keeps arriving while
  the server is stopped, as it would from outside).
- Ledger: where each seeded message is, read from the files themselves: still
  on the server, or in a local Maildir (and how often: a duplicate).
- Watch: samples, a few a second, of which accounts wait (due, with mail on
  the server), every delivery (the time its file was renamed into new/),
  the oldest queued claim, and what the operator sees: /healthz over HTTP,
  open alerts, failing accounts.
"""

import contextlib
import itertools
import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from email.utils import formatdate
from pathlib import Path

from bench._soak_measure import Sample

ID_RE = re.compile(rb"^X-Soak-Id: (\d+)\r?$", re.M)


def read_id(path: Path) -> int | None:
    with open(path, "rb") as f:
        found = ID_RE.search(f.read(16384))
    return int(found.group(1)) if found else None


class Seeder:
    def __init__(self, dovecot, users: list[str], size: int):
        self.dovecot, self.users, self.size = dovecot, users, size
        self.seeded: dict[int, str] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def seed(self, user: str):
        sid = next(self._ids)
        with self._lock:  # recorded first: a scan that finds it on the server knows it
            self.seeded[sid] = user
        head = (f"X-Soak-Id: {sid}\nFrom: soak@example.test\nTo: {user}@example.test\n"
                f"Subject: soak message {sid}\nMessage-ID: <soak{sid}.{uuid.uuid4().hex}"
                f"@popadmin.test>\nDate: {formatdate()}\n\n").encode()
        line = f"soak message {sid} for {user}\n".encode()
        self.dovecot.deliver(user, head + line * max(1, (self.size - len(head)) // len(line)))

    def start(self, per_second: float):
        def run():
            while not self._stop.wait(random.expovariate(per_second)):
                self.seed(random.choice(self.users))

        self._thread = threading.Thread(target=run, name="seeder", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()

    def ids(self) -> set[int]:
        with self._lock:
            return set(self.seeded)


class Ledger:
    """`accounts`: account id -> (Dovecot user, local Maildir)."""

    def __init__(self, dovecot, accounts: dict[int, tuple[str, Path]]):
        self.dovecot, self.accounts = dovecot, accounts
        self._server: dict[str, int | None] = {}  # file name without flags -> id
        self.local: dict[Path, tuple[int | None, float, int]] = {}  # path -> (id, ctime, account)

    def on_server(self) -> dict[int, set[int]]:
        return {pk: self._server_ids(user) for pk, (user, _) in self.accounts.items()}

    def _server_ids(self, user: str) -> set[int]:
        base = self.dovecot.maildir(user)
        # Dovecot moves files from new/ to cur/ and deletes them while we read:
        # a file gone between listing and reading means list again.
        for _ in range(50):
            try:
                ids = set()
                for sub in ("new", "cur"):
                    with contextlib.suppress(FileNotFoundError):
                        for entry in (base / sub).iterdir():
                            key = entry.name.split(":", 1)[0]
                            if key not in self._server:
                                self._server[key] = read_id(entry)
                            ids.add(self._server[key])
                ids.discard(None)
                return ids
            except FileNotFoundError:
                time.sleep(0.01)
        raise RuntimeError(f"Dovecot maildir {base} kept changing while being read")

    def scan_local(self) -> list[tuple[float, int]]:
        """New local files since the last scan: (when it landed, account)."""
        found = []
        for pk, (_, maildir) in self.accounts.items():
            for sub in ("new", "cur"):
                with contextlib.suppress(FileNotFoundError):
                    for entry in (maildir / sub).iterdir():
                        if entry in self.local:
                            continue
                        with contextlib.suppress(FileNotFoundError):
                            # The rename into new/ sets ctime: the moment it was stored whole.
                            ctime = entry.stat().st_ctime
                            self.local[entry] = (read_id(entry), ctime, pk)
                            found.append((ctime, pk))
        return found

    def on_disk(self) -> Counter:
        return Counter(sid for sid, _, _ in self.local.values() if sid is not None)


def db(query, default=None):
    """The query's answer, or `default` while the database is away (a restart)."""
    from django.db import DatabaseError, connection

    try:
        return query()
    except DatabaseError:
        connection.close()
        return default


class Health(threading.Thread):
    """GET /healthz every `every` seconds: (time, HTTP status, what it said)."""

    def __init__(self, url: str, every: float):
        super().__init__(name="healthz", daemon=True)
        self.url, self.every = url, every
        self.seen: list[tuple[float, int, str]] = []
        self._stop = threading.Event()

    def run(self):
        while not self._stop.wait(self.every):
            self.probe()

    def probe(self) -> tuple[float, int, str]:
        t = time.time()
        try:
            # An http:// address this soak built itself (its own gunicorn).
            with urllib.request.urlopen(self.url, timeout=5) as answer:  # noqa: S310
                seen = (t, answer.status, describe(answer.read()))
        except urllib.error.HTTPError as answer:
            seen = (t, answer.code, describe(answer.read()))
        except OSError as exc:
            seen = (t, 0, f"no answer ({type(exc).__name__})")
        self.seen.append(seen)
        return seen

    def stop(self):
        self._stop.set()


def describe(body: bytes) -> str:
    """/healthz's answer in a few words: "ok", or the failing checks and why."""
    try:
        report = json.loads(body)
    except ValueError:
        return body[:80].decode(errors="replace")
    bad = [f"{name}: {check.get('error', 'failing')}"
           for name, check in report.get("checks", {}).items() if not check.get("ok")]
    return "; ".join(bad) or report.get("status", "?")


class Watch:
    def __init__(self, ledger: Ledger, health: Health, interval: float):
        self.ledger, self.health, self.interval = ledger, health, interval
        self.samples: list[Sample] = []
        self.deliveries: list[tuple[float, int]] = []
        self.claims: list[tuple[float, float, int]] = []  # (t, oldest claim's age, live claims)
        self.views: list[tuple[float, dict]] = []  # operator's view: alerts, failing accounts
        self.supervisors = []  # callables run at each sample (restart a dead process)
        self._last_view = 0.0

    def sample(self):
        from django.conf import settings
        from django.db.models import Count, Min
        from django.utils import timezone

        from retrieval.models import AccountClaim, RemoteAccount

        server = self.ledger.on_server()
        self.deliveries += self.ledger.scan_local()
        now = timezone.now()
        due = db(lambda: list(RemoteAccount.objects.filter(enabled=True, next_check__lte=now)
                              .values_list("pk", flat=True)))
        t = now.timestamp()
        waiting = None if due is None else frozenset(pk for pk in due if server.get(pk))
        self.samples.append(Sample(t, waiting))
        claims = db(lambda: AccountClaim.objects.filter(until__gt=now)
                    .aggregate(first=Min("until"), n=Count("pk")))
        if claims and claims["first"]:
            made = claims["first"].timestamp() - settings.POPADMIN_CLAIM_HOLD_SECONDS
            self.claims.append((t, t - made, claims["n"]))
        if t - self._last_view >= 3:
            self._last_view = t
            view = db(operator_view)
            if view is not None:
                self.views.append((t, view))
        for supervise in self.supervisors:
            supervise()

    def run_for(self, seconds: float, stop=None):
        """Sample for `seconds`, or until `stop()` is true (checked after each sample)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            began = time.time()
            self.sample()
            if stop and stop():
                return
            time.sleep(max(0.0, self.interval - (time.time() - began)))

    def waiting_now(self) -> frozenset:
        known = [s.waiting for s in self.samples[-3:] if s.waiting is not None]
        return known[-1] if known else frozenset()

    def delivered_by_account(self) -> dict[int, list[float]]:
        by = {}
        for t, pk in self.deliveries:
            by.setdefault(pk, []).append(t)
        return by


def operator_view() -> dict:
    from retrieval.models import AlertEpisode, RemoteAccount

    alerts = [f"{a.get_kind_display()} ({a.key})"
              for a in AlertEpisode.objects.filter(closed__isnull=True)]
    failing = RemoteAccount.objects.filter(consecutive_failures__gt=0).count()
    return {"alerts": alerts, "failing": failing}


def run_errors(since: float, until: float) -> tuple[Counter, Counter]:
    """(statuses, errors) of the runs that began or ended in [since, until]
    (those the fault cut short began before it)."""
    import datetime as dt

    from django.db.models import Q

    from retrieval.models import Run

    span = [dt.datetime.fromtimestamp(t, dt.UTC) for t in (since, until)]
    runs = Run.objects.filter(Q(started__range=span) | Q(finished__range=span))
    statuses = Counter(runs.values_list("status", flat=True))
    errors = Counter(_shape(e) for e in runs.exclude(error="").values_list("error", flat=True))
    return statuses, errors


def _shape(error: str) -> str:
    """The error with its numbers and message ids as #, and paths as /…, so the
    same error on different messages counts as one; cut to 200 characters."""
    error = re.sub(r"/[^\s:;,']+", "/…", error)
    error = re.sub(r"\b[0-9a-f]*[0-9][0-9a-f]*\b", "#", error)
    return re.sub(r"\d+", "#", error)[:200]
