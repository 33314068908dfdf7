"""The fault soak's own services (bench/fault_soak.py): a PostgreSQL cluster and a
Redis on free ports, a small tmpfs for the mail root, and the product's
processes (Celery workers, beat, gunicorn), each one something a fault can
stop, stall or fill and bring back.

Never the machine's shared PostgreSQL (5432) or Redis (6379): others run
tests against them, and a soak restarts its servers on purpose.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on {port} after {timeout} s")


class Postgres:
    """A throwaway cluster: initdb + pg_ctl as the postgres user (initdb refuses root).

    fsync is off (a killed server still recovers from the OS's page cache; only
    a machine crash would lose data) but every commit stays synchronous, so a
    restart with -m immediate loses nothing a client was told was committed.
    """

    def __init__(self, work: Path):
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                          key=lambda p: int(Path(p).parent.parent.name))
        if not versions:
            raise SystemExit("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
        self.bin = Path(versions[-1]).parent
        self.dir = work / "pg"
        self.log = work / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/soak"

    def _as_postgres(self, *cmd, timeout=120):
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *cmd], check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self):
        self.dir.mkdir()
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(self.log, "postgres", "postgres")
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.dir), "-U", "postgres",
                          "-A", "trust", "-E", "UTF8", "--no-sync")
        self.up()
        from bench.dispatcher_tick import create_database

        create_database(self.url)
        return self

    def up(self):
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off -c max_connections=200")
        self._pg_ctl("start", "-o", options)

    def down(self, mode: str):
        """pg_ctl stop -m fast|immediate: every connection is cut. Followed by
        up(), the two halves of `pg_ctl restart -m mode`."""
        self._pg_ctl("stop", "-m", mode)

    def stop(self):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._pg_ctl("stop", "-m", "immediate")

    def _pg_ctl(self, action, *args):
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log),
                          "-w", "-t", "60", action, *args)


class Redis:
    """redis-server without persistence on a fixed free port: a restart comes
    back empty, as a broker without an append-only file does."""

    def __init__(self, work: Path):
        self.work = work
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.work)],
            stdout=open(self.work / "redis.log", "ab"), stderr=subprocess.STDOUT)
        wait_listening(self.port, 10, "redis-server")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class MailDisk:
    """The mail root on a tmpfs of its own, so filling it fills nothing else."""

    def __init__(self, path: Path, megabytes: int):
        self.path = path
        self.megabytes = megabytes
        self.filler = path / "filler"

    def mount(self):
        self.path.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.megabytes}m,mode=0755",
                        "tmpfs", str(self.path)], check=True)
        return self

    def fill(self) -> int:
        """Write until the filesystem refuses a single byte; returns the bytes written."""
        written = 0
        with open(self.filler, "wb", buffering=0) as f:
            for chunk in (1 << 20, 1 << 12, 1):
                block = b"\0" * chunk
                with contextlib.suppress(OSError):
                    while True:
                        written += f.write(block)
        return written

    def free(self):
        self.filler.unlink(missing_ok=True)

    def unmount(self):
        subprocess.run(["umount", "-l", str(self.path)], check=False,
                       stderr=subprocess.DEVNULL)


class Process:
    """One product process (Celery worker or beat, gunicorn) in a session of its
    own, so a kill reaches its children. Each start logs to a file of its own
    (name.N.log) and waits for that start's ready line."""

    def __init__(self, name: str, cmd: list[str], env: dict, work: Path, ready: str):
        self.name, self.cmd, self.env, self.work, self.ready = name, cmd, env, work, ready
        self.proc = None
        self.starts = 0
        self.log_path = None

    def start(self, timeout: float = 90):
        self.starts += 1
        self.log_path = self.work / f"{self.name}.{self.starts}.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready in self.log_path.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.tail()}")
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {timeout} s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path else ""

    def kill(self):
        """SIGKILL to the whole group: the main process and its pool children."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.alive():
            # The main process only: a Celery worker stops its pool children itself.
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def celery(kind: str, name: str, env: dict, work: Path, concurrency: int = 2) -> Process:
    cmd = [sys.executable, "-m", "celery", "-A", "popadmin", kind, "--loglevel", "info"]
    if kind == "worker":
        cmd += ["--hostname", f"{name}@%h", "--concurrency", str(concurrency),
                "-Q", "interactive,celery", "--without-gossip", "--without-mingle"]
        ready = "ready."
    else:
        cmd += ["--schedule", str(work / "celerybeat-schedule")]
        ready = "beat: Starting"
    return Process(name, cmd, env, work, ready)


def web(env: dict, work: Path, port: int) -> Process:
    cmd = [sys.executable, "-m", "gunicorn", "popadmin.wsgi", "--bind", f"127.0.0.1:{port}",
           "--workers", "1", "--threads", "4", "--timeout", "60"]
    return Process("web", cmd, env, work, "Booting worker")
