"""Messages per second from a real Dovecot into a Maildir: popadmin vs getmail6.

Both fetch the same number of 8 KB messages over POP3S with certificate
verification, deliver them into a Maildir and delete them on the server;
getmail6 (Debian's package) runs as a child of this process.

    .venv/bin/python bench/throughput.py [--messages 2000] [--size 8192]
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import django_in_tmp, scratch  # noqa: E402


def timed(action):
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def getmail_rc(dovecot, user, password, maildir: Path) -> str:
    return (
        "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = localhost\n"
        f"port = {dovecot.pop3s_port}\nusername = {user}\npassword = {password}\n"
        f"ca_certs = {dovecot.ca_file}\n\n"
        f"[destination]\ntype = Maildir\npath = {maildir}/\n\n"
        "[options]\ndelete = true\nread_all = true\nverbose = 0\n"
    )


def run_getmail(dovecot, n, size):
    if not shutil.which("getmail"):
        raise SystemExit("getmail6 is not installed: apt-get install -y getmail6")
    # getmail's rc format cannot hold every character, so a plain password.
    user, password = dovecot.add_user(password="benchpassword")
    dovecot.deliver_many(user, n, size=size)
    work = scratch("getmail-bench-")
    maildir = work / "Maildir"
    work.chmod(0o755)
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    rc = work / "getmailrc"
    rc.write_text(getmail_rc(dovecot, user, password, maildir))
    # getmail refuses to deliver as root, so the whole run is the mail user's.
    for path in [work, rc, maildir, *maildir.iterdir()]:
        shutil.chown(path, "mail", "mail")
    result = {}
    seconds = timed(lambda: result.update(done=subprocess.run(
        ["setpriv", "--reuid=mail", "--regid=mail", "--clear-groups",
         "getmail", f"--rcfile={rc}", f"--getmaildir={work}"],
        capture_output=True, text=True,
    )))
    if result["done"].returncode:
        raise SystemExit(f"getmail failed: {result['done'].stdout}{result['done'].stderr}")
    got = len(list((maildir / "new").iterdir()))
    if got != n or dovecot.messages(user):
        raise SystemExit(f"getmail delivered {got} of {n}")
    return seconds


def run_popadmin(dovecot, n, size):
    from retrieval import engine
    from tests.factories import local_messages, make_account

    user = dovecot.add_user()
    dovecot.deliver_many(user[0], n, size=size)
    account = make_account(dovecot, *user)
    result = {}
    seconds = timed(lambda: result.update(run=engine.run_account(account.pk, "command")))
    run = result["run"]
    if run.status != "ok" or len(local_messages(account.owner)) != n or dovecot.messages(user[0]):
        raise SystemExit(f"popadmin run failed: {run.status} {run.error}")
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=8192)
    args = parser.parse_args()
    django_in_tmp()
    from django.conf import settings

    from tests.dovecot import Dovecot

    n = args.messages
    with Dovecot() as dovecot:
        settings.POPADMIN_CA_FILE = str(dovecot.ca_file)
        ours = run_popadmin(dovecot, n, args.size)
        theirs = run_getmail(dovecot, n, args.size)
    print(f"popadmin: {n} x {args.size} B in {ours:6.2f} s = {n / ours:7.0f} msg/s")
    print(f"getmail6: {n} x {args.size} B in {theirs:6.2f} s = {n / theirs:7.0f} msg/s")
    print(f"ratio popadmin/getmail6 throughput: {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
