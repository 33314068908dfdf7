"""IMAPS into Maildir: popadmin vs getmail6 vs mbsync (isync), one run, same data.

One real Dovecot, a fresh set of ACCOUNTS accounts x MESSAGES messages x
SIZE bytes seeded for each contender, everything over TLS with the
certificate checked against the test CA:

- popadmin: `manage.py fetch --all` (in-process, the engine the workers run,
  SQLite in a scratch data dir), delivering into Maildir and DELETING at the
  source (UID STORE \\Deleted + UID EXPUNGE);
- popadmin-cmd: the same command run as a user runs it, `manage.py fetch --all`
  as a process of its own: wall time from exec to exit, Python's start, Django's
  set-up and the database connection included (mbsync is timed the same way);
- getmail6 (Debian's package): SimpleIMAPSSLRetriever, delete = true, one
  `getmail` with one --rcfile per account;
- mbsync (Debian's isync): COPY ONLY. It is a synchroniser: `Sync Pull New`
  copies new messages from the IMAPS side (its "far" store) into a Maildir
  (its "near" store), fsync'ing as it does by default (FSync yes), and
  leaves the server's copies where they are. One `mbsync -a` for all accounts.
- client: popadmin's IMAP client alone (retrieval/protocols/imap.py), every
  message into a spool file and nothing else: what the protocol side costs.

    .venv/bin/python bench/imap_vs_mbsync.py [--accounts 10] [--messages 1000 200] [--size 8192]
        [--skip popadmin|popadmin-cmd|getmail|mbsync|client] [--rounds 1] [--profile FILE.html]
        [--database postgres://...]

Each size in --messages gets its own block of figures; rounds take turns
between the contenders, the best round counts and the spread is printed.
--database runs popadmin on that database (migrated) instead of SQLite.

getmail6 loses a child's exit signal now and then (see resend_lost_sigchld)
and then waits minutes; the bench re-sends the signal and says how often.
When the race ends in getmail's own "waiting child pid N timed out" instead,
the bench says so and reports the other contenders.
--profile runs popadmin under pyinstrument and writes its HTML report.
getmail6 and isync come from `apt-get install -y getmail6 isync`; the suite
needs neither.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import ROOT, django_in_tmp, scratch  # noqa: E402
from bench._setup import run_getmail as getmail  # noqa: E402
from bench.pop3_vs_peers import check_drained, seed  # noqa: E402


def run_popadmin(dovecot, users, n, profile=None):
    from django.core.management import call_command

    from retrieval.models import RemoteAccount
    from tests.factories import local_messages, make_account

    RemoteAccount.objects.update(enabled=False)  # only this run's accounts
    accounts = [make_account(dovecot, u, p, protocol="imap") for u, p in users]
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    started = time.perf_counter()
    call_command("fetch", every=True, stdout=open(os.devnull, "w"))
    seconds = time.perf_counter() - started
    if profiler:
        profiler.stop()
        Path(profile).write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
    got = sum(len(local_messages(a.owner)) for a in accounts)
    if got != n * len(users):
        raise SystemExit(f"popadmin delivered {got} of {n * len(users)}")
    check_drained(dovecot, users, "popadmin")
    return seconds


CPU: dict[str, list[float]] = {}  # contender -> CPU seconds (user + system) of each round


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_popadmin_command(dovecot, users, n):
    """`manage.py fetch --all` as a process: exec to exit, as a user runs it."""
    from django.conf import settings
    from django.db import connections

    from retrieval.models import RemoteAccount
    from tests.factories import local_messages, make_account

    RemoteAccount.objects.update(enabled=False)  # only this run's accounts
    accounts = [make_account(dovecot, u, p, protocol="imap") for u, p in users]
    connections.close_all()  # nothing of the bench's held open beside the command
    env = dict(os.environ, POPADMIN_CA_FILE=str(dovecot.ca_file),
               POPADMIN_DATA_DIR=str(settings.DATA_DIR))
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "fetch", "--all"],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    CPU.setdefault("popadmin-cmd", []).append(children_cpu() - cpu)
    if done.returncode:
        raise SystemExit(f"fetch --all failed: {done.stdout[-1000:]}{done.stderr[-2000:]}")
    got = sum(len(local_messages(a.owner)) for a in accounts)
    if got != n * len(users):
        raise SystemExit(f"popadmin (command) delivered {got} of {n * len(users)}")
    check_drained(dovecot, users, "popadmin (command)")
    return seconds


def compile_sources():
    """Byte-compile popadmin's own modules, as an installed copy has them (the
    image compiles them at build; a checkout on its first run): a process that
    had to compile them all would spend a third of a second more at start-up."""
    import compileall

    for folder in ("popadmin", "accounts", "retrieval", "delivery", "api"):
        compileall.compile_dir(ROOT / folder, quiet=1)


def run_client(dovecot, users, n):
    """popadmin's IMAP client alone: every message into a spool file, nothing
    delivered, recorded or deleted; the protocol side's ceiling."""
    from retrieval.protocols.base import ConnectionParams
    from retrieval.protocols.imap import IMAPSession

    started = time.perf_counter()
    got = 0
    for user, password in users:
        session = IMAPSession(ConnectionParams(
            "localhost", dovecot.imaps_port, "tls", user, password, ca_file=str(dovecot.ca_file)))
        session.connect()
        listing = session.list_messages()
        session.prefetch(listing)
        for msg in listing:
            with tempfile.TemporaryFile() as spool:
                session.fetch(msg, spool)
            got += 1
        session.close()
    seconds = time.perf_counter() - started
    if got != n * len(users):
        raise SystemExit(f"the client fetched {got} of {n * len(users)}")
    return seconds


def getmail_imap_rc(dovecot, user, password, maildir: Path) -> str:
    return (
        "[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = localhost\n"
        f"port = {dovecot.imaps_port}\nusername = {user}\npassword = {password}\n"
        f"ca_certs = {dovecot.ca_file}\nmailboxes = (\"INBOX\",)\n\n"
        f"[destination]\ntype = Maildir\npath = {maildir}/\n\n"
        "[options]\ndelete = true\nread_all = true\nverbose = 0\n"
    )


def run_getmail(dovecot, users, n):
    seconds = getmail(users, n * len(users), lambda *account: getmail_imap_rc(dovecot, *account),
                      prefix="getmail-imap-bench-")
    if seconds is not None:
        check_drained(dovecot, users, "getmail6")
    return seconds


def mbsync_rc(dovecot, users, work: Path) -> str:
    blocks = []
    for i, (user, password) in enumerate(users):
        maildir = work / f"Maildir{i}"
        blocks.append(
            f"IMAPAccount a{i}\nHost localhost\nPort {dovecot.imaps_port}\nUser {user}\n"
            f"Pass {password}\nSSLType IMAPS\nCertificateFile {dovecot.ca_file}\n\n"
            f"IMAPStore a{i}-far\nAccount a{i}\n\n"
            f"MaildirStore a{i}-near\nPath {maildir}/\nInbox {maildir}/INBOX\n\n"
            f"Channel a{i}\nFar :a{i}-far:\nNear :a{i}-near:\nPatterns INBOX\n"
            "Create Near\nSync Pull New\nSyncState *\n"
        )
    return "\n".join(blocks)


def run_mbsync(dovecot, users, n):
    if not shutil.which("mbsync"):
        raise SystemExit("isync is not installed: apt-get install -y isync")
    work = scratch("mbsync-bench-")
    for i in range(len(users)):
        (work / f"Maildir{i}").mkdir()
    rc = work / "mbsyncrc"
    rc.write_text(mbsync_rc(dovecot, users, work))
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(["mbsync", "-q", "-c", str(rc), "-a"], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    CPU.setdefault("mbsync", []).append(children_cpu() - cpu)
    if done.returncode:
        raise SystemExit(f"mbsync failed: {done.stdout}{done.stderr}")
    got = sum(
        len(list((work / f"Maildir{i}" / "INBOX" / sub).iterdir()))
        for i in range(len(users)) for sub in ("new", "cur")
    )
    if got != n * len(users):
        raise SystemExit(f"mbsync copied {got} of {n * len(users)}")
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--messages", type=int, nargs="+", default=[1000, 200])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--skip", action="append", default=[],
                        choices=["popadmin", "popadmin-cmd", "getmail", "mbsync", "client"])
    parser.add_argument("--rounds", type=int, default=1, help="contenders take turns; best counts")
    parser.add_argument("--profile", help="write popadmin's pyinstrument report here (HTML)")
    parser.add_argument("--database", help="popadmin's database URL (default: SQLite in a "
                        "scratch data dir); its tables are created if missing")
    args = parser.parse_args()
    django_in_tmp(args.database)
    from django.conf import settings

    from tests.dovecot import Dovecot

    contenders = {
        "popadmin": lambda d, u, n: run_popadmin(d, u, n, args.profile),
        "popadmin-cmd": run_popadmin_command,
        "getmail6": run_getmail,
        "mbsync": run_mbsync,
        "client": run_client,
    }
    contenders = {name: run for name, run in contenders.items()
                  if name.removesuffix("6") not in args.skip}
    stack = "PostgreSQL" if args.database else "SQLite"
    if "popadmin-cmd" in contenders:
        compile_sources()
    with Dovecot() as dovecot:
        settings.POPADMIN_CA_FILE = str(dovecot.ca_file)
        for messages in args.messages:
            results: dict[str, list[float]] = {}
            # Rounds take turns, so a load that comes and goes (a shared machine)
            # falls on every contender alike; the best round of each is compared.
            for _ in range(args.rounds):
                for name, run in contenders.items():
                    users = seed(dovecot, args.accounts, messages, args.size)
                    seconds = run(dovecot, users, messages)
                    if seconds is not None:
                        results.setdefault(name, []).append(seconds)
            report(args, messages, results, stack)
            CPU.clear()


NOTES = {"popadmin": "in-process, deleting", "popadmin-cmd": "whole command, deleting",
         "getmail6": "deleting", "mbsync": "whole command, copy only",
         "client": "popadmin's IMAP client alone: no delivery, no deletion"}


def report(args, messages, results, stack):
    total = args.accounts * messages
    print(f"{args.accounts} accounts x {messages} messages x {args.size} B over IMAPS, popadmin on "
          f"{stack}, best of {args.rounds} (load {os.getloadavg()[0]:.1f})")
    best = {name: min(times) for name, times in results.items()}
    for name, seconds in best.items():
        rates = sorted(total / t for t in results[name])
        spread = f"{rates[0]:.0f}-{rates[-1]:.0f}" if len(rates) > 1 else f"{rates[0]:.0f}"
        print(f"{name:12}: {total} in {seconds:6.2f} s = {total / seconds:7.0f} msg/s "
              f"({NOTES[name]}; rounds {spread} msg/s)")
    for ours in ("popadmin", "popadmin-cmd"):
        for name, seconds in best.items():
            if ours in best and not name.startswith("popadmin"):
                print(f"ratio {ours}/{name}: {seconds / best[ours]:.2f}x")
    for name, seconds in CPU.items():
        print(f"{name:12}: CPU per round (user + system, its own processes; Dovecot's "
              f"not counted) {min(seconds):.2f}-{max(seconds):.2f} s")
    if "popadmin-cmd" in best and "mbsync" in results:
        # Round by round (they ran side by side): how steady the ratio is.
        pairs = zip(results["popadmin-cmd"], results["mbsync"], strict=False)
        print("ratio popadmin-cmd/mbsync by round: "
              + " ".join(f"{theirs / ours:.2f}" for ours, theirs in pairs))


if __name__ == "__main__":
    main()
