"""Memory cost of fetching one 100 MB message (invariant "Bounded memory").

Fetches through the full engine (protocol client → spool file → Maildir) from
a real Dovecot, and prints the growth of the process's peak RSS. For scale it
also fetches the same message with the standard library's poplib, which holds
the message as a list of lines.

    .venv/bin/python bench/memory_100mb.py [--mb 100]
"""

import argparse
import poplib
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import django_in_tmp, peak_mb, reset_peak, rss_mb  # noqa: E402


def big_message(mb: int) -> bytes:
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n"
    body = line * (mb * 1024 * 1024 // len(line))
    return b"From: bench@example.test\nMessage-ID: <big@bench>\nSubject: big\n\n" + body


def measure(label, action):
    reset_peak()
    before = rss_mb()
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    growth = peak_mb() - before
    print(f"{label:<34} {seconds:6.2f} s   peak RSS growth {growth:7.1f} MB")
    return growth


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    django_in_tmp()
    from django.conf import settings

    from retrieval import engine
    from tests.dovecot import Dovecot
    from tests.factories import make_account

    message = big_message(args.mb)
    with Dovecot() as dovecot:
        settings.POPADMIN_CA_FILE = str(dovecot.ca_file)
        results = {}
        for protocol in ("pop3", "imap"):
            user, password = dovecot.add_user()
            dovecot.deliver(user, message)
            account = make_account(dovecot, user, password, protocol=protocol)
            results[protocol] = measure(
                f"popadmin {protocol} engine, {args.mb} MB",
                lambda account=account: check(engine.run_account(account.pk, "command")),
            )

        user, password = dovecot.add_user()
        dovecot.deliver(user, message)

        def with_poplib():
            context = ssl.create_default_context(cafile=str(dovecot.ca_file))
            client = poplib.POP3_SSL("localhost", dovecot.pop3s_port, context=context)
            client.user(user)
            client.pass_(password)
            client.retr(1)
            client.quit()

        stdlib = measure(f"stdlib poplib RETR, {args.mb} MB", with_poplib)
    del message
    print(f"peak RSS growth: pop3 {results['pop3']:.1f} MB, imap {results['imap']:.1f} MB "
          f"for a {args.mb} MB message (poplib: {stdlib:.1f} MB)")


def check(run):
    if run is None or run.status != "ok" or run.delivered != 1:
        raise SystemExit(f"fetch failed: {run and run.error}")


if __name__ == "__main__":
    main()
