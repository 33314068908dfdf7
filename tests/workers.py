"""Real Celery worker and beat processes for end-to-end tests (no eager mode)."""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# Processes started and not yet stopped (conftest's leftover_processes stops them).
running: set = set()


def process_env(**extra) -> dict:
    """The environment a worker needs to share this test session's database and mail."""
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        user = db.get("USER") or "postgres"
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env["DATABASE_URL"] = (
            f"postgres://{user}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env["MAIL_ROOT"] = str(settings.MAIL_ROOT)
    if settings.POPADMIN_CA_FILE:
        env["POPADMIN_CA_FILE"] = str(settings.POPADMIN_CA_FILE)
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["POPADMIN_ENCRYPTION_KEY"] = settings.POPADMIN_ENCRYPTION_KEY
    env["POPADMIN_DATA_DIR"] = str(settings.DATA_DIR)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class CeleryProcess:
    def __init__(self, kind: str, log_dir: Path, name: str = "w1", env: dict | None = None,
                 concurrency: int = 2, queues: tuple[str, ...] = ()):
        self.kind = kind
        self.log_path = log_dir / f"celery-{kind}-{name}.log"
        self.env = env or process_env()
        base = [sys.executable, "-m", "celery", "-A", "popadmin", kind, "--loglevel", "info"]
        if kind == "worker":
            base += ["--hostname", f"{name}@%h", "--concurrency", str(concurrency),
                     "--without-gossip", "--without-mingle"]
            if queues:  # e.g. ("celery", "interactive"): Check now goes to its own queue
                base += ["-Q", ",".join(queues)]
        else:
            base += ["--schedule", str(log_dir / f"beat-{name}.db")]
        self.cmd = base
        self.proc = None

    def start(self, ready_text: str | None = None, timeout: float = 60):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        running.add(self)
        ready_text = ready_text or ("ready." if self.kind == "worker" else "beat: Starting")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready_text in self.log():
                return self
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"celery {self.kind} exited early:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        # Not ready (a loaded machine): it may become ready later, and would then
        # consume other tests' tasks; the caller never got it to stop.
        self.stop()
        raise RuntimeError(f"celery {self.kind} not ready in {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig=signal.SIGKILL):
        """Signal the whole process group (main process and pool children); with
        SIGKILL, wait until none of them is left."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        if sig == signal.SIGKILL:
            self._reap_group()
            running.discard(self)

    def stop(self):
        """Stop cleanly, then make sure nothing of the process group is left:
        a pool child or a thread's connection outliving its test consumes the
        next test's tasks (or holds its database)."""
        if self.proc and self.proc.poll() is None:
            # The main process only: it stops its pool children itself; a
            # group-wide TERM kills them first and leaves it waiting.
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self._reap_group()
        running.discard(self)
        if getattr(self, "_log", None):
            self._log.close()

    def _reap_group(self, timeout: float = 20):
        # The group keeps the main process's id (start_new_session) after it exits.
        deadline = time.monotonic() + timeout
        while group_alive(self.proc.pid):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            if self.proc.poll() is None:
                try:
                    self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not group_alive(self.proc.pid), f"celery {self.kind} left processes running"


def start_together(*procs: "CeleryProcess", timeout: float = 60) -> tuple:
    """Start these processes side by side: each spends seconds importing Django and
    connecting, mostly waiting. If one does not get ready, all are stopped."""
    with ThreadPoolExecutor(len(procs)) as pool:
        futures = [pool.submit(proc.start, timeout=timeout) for proc in procs]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        for proc in procs:
            proc.stop()
        raise errors[0]
    return procs


def group_alive(pgid: int) -> bool:
    """Whether any process of this process group is still running (zombies count as gone)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Children of an exited main process are re-parented to init; a zombie
    # still answers the signal probe until reaped, so look at its state.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def wait_for(predicate, timeout: float = 60, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class WatchProcess(CeleryProcess):
    """A real `manage.py watch` (IMAP IDLE) sharing the test's database, stopped like a worker."""

    def __init__(self, log_dir: Path, name: str = "watch1", env: dict | None = None):
        self.kind = "watch"
        self.log_path = log_dir / f"watch-{name}.log"
        self.env = env or process_env()
        self.cmd = [sys.executable, str(ROOT / "manage.py"), "watch", "--name", name]
        self.proc = None

    def start(self, ready_text: str | None = None, timeout: float = 60):
        return super().start(ready_text or "starting", timeout)
