"""POP3S into Maildir, deleting at the source: popadmin vs getmail6 vs a raw reader.

One run, one real Dovecot, the same data for each contender: ACCOUNTS
accounts x MESSAGES messages x SIZE bytes, over TLS with certificate
verification, delivered into a Maildir and deleted on the server.

- popadmin: `manage.py fetch --all` (called in-process: the same engine the
  workers run, on SQLite in a scratch data dir);
- getmail6 (Debian's package): one `getmail` with one --rcfile per account;
- fetchmail (Debian's package, C): one `fetchmail` polling every account in
  turn, each message handed to safecat (its MDA, `apt-get install -y
  safecat`: written to tmp/, fsync'd, renamed into new/), deleted at the source.
- raw: the fastest honest Python reader this machine allows: POP3S, every
  RETR sent ahead (pipelined), each message written to tmp/, fsync'd and
  renamed into new/, the new/ directory fsync'd once, then every DELE sent
  ahead and QUIT. Same durability as popadmin (nothing deleted before its copy
  is on disk), no bookkeeping at all. One account after another.
- raw-group: the same reader making its copies durable the way popadmin's
  default does: all files of the account written to tmp/, writeback of them
  started (sync_file_range) and each one fsync'd, 64 at a time, then
  renamed into new/, new/ fsync'd, then DELE.
- raw-syncfs: the same reader making its copies durable the way popadmin
  does with POPADMIN_MAILDIR_SYNC=filesystem: all files of the account
  written to tmp/, one syncfs, linked into new/, one syncfs, then DELE.
- raw-parallel, raw-parallel-group: the raw reader (fsync per file, or the
  group way) on the accounts side by side, in as many processes as
  popadmin's `fetch --all` uses.
- popadmin-syncfs: popadmin with POPADMIN_MAILDIR_SYNC=filesystem.

popadmin runs `fetch --all` as shipped: accounts side by side in up to
--jobs processes (default: the command's own, the cap or twice the CPUs).

    .venv/bin/python bench/pop3_vs_peers.py [--accounts 10] [--messages 200] [--size 8192]
        [--jobs N] [--rounds 1]
        [--skip getmail|fetchmail|raw|raw-group|raw-syncfs|raw-parallel|raw-parallel-group|
                popadmin-syncfs]

getmail6 comes from `apt-get install -y getmail6`; the suite does not need it.
"""

import argparse
import ctypes
import multiprocessing
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import django_in_tmp, scratch  # noqa: E402
from bench._setup import run_getmail as getmail  # noqa: E402
from bench.throughput import getmail_rc  # noqa: E402

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
PASSWORD = "benchpassword"  # getmail's rc format cannot hold every character


def seed(dovecot, accounts, n, size):
    users = [dovecot.add_user(password=PASSWORD) for _ in range(accounts)]
    for user, _password in users:
        dovecot.deliver_many(user, n, size=size)
    return users


def check_drained(dovecot, users, name):
    left = sum(len(dovecot.messages(u)) for u, _ in users)
    if left:
        raise SystemExit(f"{name} left {left} messages on the server")


def run_popadmin(dovecot, users, n, jobs=None, sync="file"):
    from django.conf import settings
    from django.core.management import call_command

    from retrieval.models import RemoteAccount
    from tests.factories import local_messages, make_account

    RemoteAccount.objects.update(enabled=False)  # only this run's accounts
    accounts = [make_account(dovecot, u, p) for u, p in users]
    settings.POPADMIN_MAILDIR_SYNC = sync
    started = time.perf_counter()
    call_command("fetch", every=True, jobs=jobs, stdout=open(os.devnull, "w"))
    seconds = time.perf_counter() - started
    got = sum(len(local_messages(a.owner)) for a in accounts)
    if got != n * len(users):
        raise SystemExit(f"popadmin delivered {got} of {n * len(users)}")
    check_drained(dovecot, users, "popadmin")
    return seconds


def run_getmail(dovecot, users, n):
    seconds = getmail(users, n * len(users), lambda *account: getmail_rc(dovecot, *account),
                      prefix="getmail-bench-")
    if seconds is not None:
        check_drained(dovecot, users, "getmail6")
    return seconds


def run_fetchmail(dovecot, users, n):
    if not (shutil.which("fetchmail") and shutil.which("safecat")):
        raise SystemExit("fetchmail and safecat are needed: apt-get install -y fetchmail safecat")
    work = scratch("fetchmail-bench-")
    maildirs, lines = [], [f"poll localhost proto pop3 port {dovecot.pop3s_port}"]
    for i, (user, password) in enumerate(users):
        maildir = work / f"Maildir{i}"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True)
        maildirs.append(maildir)
        lines.append(f'  user "{user}" there with password "{password}" is root here '
                     f'options ssl sslcertck sslcertfile "{dovecot.ca_file}" '
                     f'mda "safecat {maildir}/tmp {maildir}/new"')
    rc = work / "fetchmailrc"
    rc.write_text("\n".join(lines) + "\n")
    rc.chmod(0o600)
    started = time.perf_counter()
    done = subprocess.run(
        ["fetchmail", "-N", "--nosyslog", "-f", str(rc), "--pidfile", str(work / "pid")],
        env=dict(os.environ, FETCHMAILHOME=str(work)), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    got = sum(len(list((m / "new").iterdir())) for m in maildirs)
    if got != n * len(users):
        raise SystemExit(f"fetchmail delivered {got} of {n * len(users)}: {done.stdout[-1000:]}"
                         f"{done.stderr[-1000:]}")
    check_drained(dovecot, users, "fetchmail")
    return seconds


class RawReader:
    """POP3S with every RETR and DELE pipelined; fsync'd Maildir writes."""

    def __init__(self, host, port, ca_file):
        context = ssl.create_default_context(cafile=str(ca_file))
        self.sock = context.wrap_socket(socket.create_connection((host, port)),
                                        server_hostname=host)
        self.file = self.sock.makefile("rb", buffering=256 * 1024)
        self.line()  # greeting

    def line(self) -> bytes:
        line = self.file.readline()
        if not line.startswith(b"+OK"):
            raise SystemExit(f"raw reader: {line!r}")
        return line

    def send(self, *commands: bytes):
        self.sock.sendall(b"".join(c + b"\r\n" for c in commands))

    def fetch_all(self, user, password, maildir: Path, sync: str = "file") -> int:
        """sync "file": an fsync per message as it is written; "group": every
        file written first, then writeback of them all started and each one
        fsync'd (what popadmin's default does per group); "syncfs": one syncfs
        for the data and one for the links."""
        self.send(b"USER " + user.encode(), b"PASS " + password.encode(), b"STAT")
        self.line(), self.line()
        count = int(self.line().split()[1])
        self.send(*[b"RETR %d" % i for i in range(1, count + 1)])
        names = []
        for i in range(1, count + 1):
            self.line()
            name = f"{time.time():.6f}.R{i}P{os.getpid()}.raw"
            tmp = maildir / "tmp" / name
            with open(tmp, "wb") as out:
                while True:
                    line = self.file.readline()
                    if line == b".\r\n":
                        break
                    if line.startswith(b".."):
                        line = line[1:]
                    out.write(line[:-2] + b"\n" if line.endswith(b"\r\n") else line)
                out.flush()
                if sync == "file":
                    os.fsync(out.fileno())
            if sync == "file":
                os.rename(tmp, maildir / "new" / name)
            else:
                names.append(name)
        fd = os.open(maildir / "new", os.O_RDONLY | os.O_DIRECTORY)
        if sync == "syncfs":
            LIBC.syncfs(fd)  # the data of every file, then the links
        elif sync == "group":
            _group_fsync(maildir / "tmp", names)
        for name in names:
            os.rename(maildir / "tmp" / name, maildir / "new" / name)
        if sync == "syncfs":
            LIBC.syncfs(fd)
        else:
            os.fsync(fd)  # every copy durable before any DELE
        os.close(fd)
        self.send(*[b"DELE %d" % i for i in range(1, count + 1)], b"QUIT")
        for _ in range(count + 1):
            self.line()
        self.sock.close()
        return count


def _group_fsync(directory: Path, names):
    for start in range(0, len(names), 64):
        fds = [os.open(directory / name, os.O_RDONLY) for name in names[start : start + 64]]
        for fd in fds:
            LIBC.sync_file_range(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE
        for fd in fds:
            os.fsync(fd)
            os.close(fd)


def run_raw(dovecot, users, n, sync="file", jobs=1):
    work = scratch("raw-bench-")
    tasks = []
    for i, (user, password) in enumerate(users):
        maildir = work / f"Maildir{i}"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True)
        tasks.append((dovecot.pop3s_port, str(dovecot.ca_file), user, password, maildir, sync))
    started = time.perf_counter()
    if jobs > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            got = sum(pool.map(_raw_one, tasks))
    else:
        got = sum(map(_raw_one, tasks))
    seconds = time.perf_counter() - started
    if got != n * len(users):
        raise SystemExit(f"raw reader fetched {got} of {n * len(users)}")
    check_drained(dovecot, users, "raw reader")
    return seconds


def _raw_one(task) -> int:
    port, ca_file, user, password, maildir, sync = task
    return RawReader("localhost", port, ca_file).fetch_all(user, password, maildir, sync)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--jobs", type=int, default=None, help="fetch --all's --jobs")
    parser.add_argument("--rounds", type=int, default=1, help="contenders take turns; best counts")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["getmail", "fetchmail", "raw", "raw-group", "raw-syncfs",
                                 "raw-parallel", "raw-parallel-group", "popadmin-syncfs"])
    args = parser.parse_args()
    django_in_tmp()
    from django.conf import settings

    from retrieval.fetch_many import default_jobs
    from tests.dovecot import Dovecot

    total = args.accounts * args.messages
    load = os.getloadavg()[0]
    contenders = {
        "popadmin": lambda d, u, n: run_popadmin(d, u, n, args.jobs),
        "popadmin-syncfs": lambda d, u, n: run_popadmin(d, u, n, args.jobs, sync="filesystem"),
        "getmail6": run_getmail,
        "fetchmail": run_fetchmail,
        "raw": run_raw,
        "raw-group": lambda d, u, n: run_raw(d, u, n, sync="group"),
        "raw-syncfs": lambda d, u, n: run_raw(d, u, n, sync="syncfs"),
        "raw-parallel": lambda d, u, n: run_raw(d, u, n, jobs=args.jobs or default_jobs()),
        "raw-parallel-group": lambda d, u, n: run_raw(d, u, n, sync="group",
                                                      jobs=args.jobs or default_jobs()),
    }
    rounds: dict[str, list[float]] = {}
    with Dovecot() as dovecot:
        settings.POPADMIN_CA_FILE = str(dovecot.ca_file)
        # Contenders take turns, round after round: a slow spell of the disk
        # (fsync latency moves a lot here) lands on one round of each, not on
        # every round of one contender. The best round counts.
        for _round in range(args.rounds):
            for name, run in contenders.items():
                if name.removesuffix("6") in args.skip or name in args.skip:
                    continue
                for _attempt in range(3):  # getmail6 sometimes fails on its own race
                    users = seed(dovecot, args.accounts, args.messages, args.size)
                    seconds = run(dovecot, users, args.messages)
                    if seconds is not None:
                        rounds.setdefault(name, []).append(seconds)
                        break
    results = {name: min(times) for name, times in rounds.items()}
    print(f"{args.accounts} accounts x {args.messages} messages x {args.size} B over POP3S,"
          f" best of {args.rounds} (load average before: {load:.1f})")
    for name, seconds in results.items():
        each = " ".join(f"{total / t:.0f}" for t in rounds[name])
        print(f"{name:15}: {total} in {seconds:6.2f} s = {total / seconds:7.0f} msg/s"
              f" (rounds: {each})")
    ours = results["popadmin"]
    for name, seconds in results.items():
        if name != "popadmin":
            print(f"ratio popadmin/{name}: {seconds / ours:.2f}x")


if __name__ == "__main__":
    main()
