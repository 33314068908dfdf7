"""Shared set-up for benchmarks: a throwaway data dir, Django, a real Dovecot."""

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scratch(prefix: str) -> Path:
    """A fresh folder, removed when the bench exits (a run writes about a GB of mail)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def django_in_tmp(database_url: str | None = None):
    """Configure Django on a fresh SQLite database in a temporary data dir
    (or on `database_url`, migrated, with the data dir for everything else)."""
    data = scratch("popadmin-bench-")
    data.chmod(0o755)
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["POPADMIN_DATA_DIR"] = str(data)
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "popadmin.settings")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return data


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_mb() -> float:
    return _status_kb("VmHWM") / 1024


def reset_peak():
    # Linux: writing 5 resets the peak resident set size (VmHWM) to the current one.
    Path("/proc/self/clear_refs").write_text("5")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def resend_lost_sigchld(proc, nudges):
    """getmail6 forks one child per delivered message and installs its SIGCHLD
    handler only after fork() (getmailcore/baseclasses.py, ForkingBase): a
    child that exits first leaves getmail waiting out its whole timeout with
    a zombie child, minutes under load. Re-sending the signal once a zombie has
    waited 0.2 s lets the bench measure getmail rather than that race."""
    zombies: dict[int, int] = {}
    while proc.poll() is None:
        for child in zombie_children(proc.pid):
            zombies[child] = zombies.get(child, 0) + 1
            if zombies[child] == 2:
                nudges.append(child)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCHLD)
        time.sleep(0.1)


def zombie_children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    found.append(int(child))
    return found


def run_getmail(users, expected: int, rc_for, prefix: str) -> float | None:
    """getmail6 over every account, as the mail user (it refuses to deliver as
    root), each into a Maildir of its own: its seconds, or None when getmail6
    failed on its own race ("waiting child pid N timed out"), for the caller
    to try again. `rc_for(user, password, maildir)`: the account's rc file."""
    if not shutil.which("getmail"):
        raise SystemExit("getmail6 is not installed: apt-get install -y getmail6")
    work = scratch(prefix)
    work.chmod(0o755)
    maildirs, rcs = [], []
    for i, (user, password) in enumerate(users):
        maildir, rc = work / f"Maildir{i}", work / f"getmailrc{i}"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True)
        rc.write_text(rc_for(user, password, maildir))
        maildirs.append(maildir)
        rcs.append(rc)
    for path in [work, *work.rglob("*")]:
        shutil.chown(path, "mail", "mail")
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["setpriv", "--reuid=mail", "--regid=mail", "--clear-groups", "getmail",
         *[f"--rcfile={rc}" for rc in rcs], f"--getmaildir={work}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    nudges = []
    watchdog = threading.Thread(target=resend_lost_sigchld, args=(proc, nudges), daemon=True)
    watchdog.start()
    output = proc.communicate()[0]
    seconds = time.perf_counter() - started
    watchdog.join()
    if proc.returncode:
        print(f"getmail6 failed after {seconds:.0f} s: {output.strip()[:300]}")
        return None
    if nudges:
        print(f"getmail6: re-sent {len(nudges)} lost SIGCHLD (resend_lost_sigchld)")
    got = sum(len(list((m / "new").iterdir())) for m in maildirs)
    if got != expected:
        raise SystemExit(f"getmail delivered {got} of {expected}")
    return seconds
