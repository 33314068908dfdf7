"""What the header check before a deletion costs (retrieval/identity.py).

A message kept for N days is deleted by a later session that did not fetch
it: before its deletion, the server's header block (POP3 `TOP n 0`, IMAP
`BODY.PEEK[HEADER]`) is compared with the digest recorded when it was taken.
This bench times that deleting session on a real Dovecot over POP3S or
IMAPS, with the check and with the size alone, on a link with the given
round-trip time (a delaying proxy in front of Dovecot):

    .venv/bin/python bench/identity_check_cost.py [--protocol pop3|imap] [--messages 1000]
        [--size 8192] [--rtt-ms 20] [--rounds 3]

Each round runs both sessions (in turn, on fresh mailboxes); the medians are printed.

Both sessions fetch nothing; the difference is the header blocks (POP3: TOP
pipelined by the hundred where the server offers PIPELINING; IMAP: one UID
FETCH per hundred messages).
"""

import argparse
import datetime as dt
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import django_in_tmp  # noqa: E402


class DelayProxy:
    """Forwards 127.0.0.1:port to `target`, each chunk held rtt/2 in each direction."""

    def __init__(self, target_port: int, rtt: float):
        self.target, self.half = target_port, rtt / 2
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while data := src.recv(65536):
                time.sleep(self.half)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def deleting_session(dovecot, proxy, protocol, n, size, check_headers: bool):
    from django.utils import timezone

    from retrieval import engine
    from retrieval.models import RemoteAccount, SeenMessage
    from retrieval.protocols.imap import IMAPSession
    from retrieval.protocols.pop3 import POP3Session
    from tests.factories import make_account

    session_class = POP3Session if protocol == "pop3" else IMAPSession

    user = dovecot.add_user()
    dovecot.deliver_many(user[0], n, size=size)
    account = make_account(dovecot, *user, protocol=protocol, port=proxy.port,
                           keep_policy=RemoteAccount.Keep.KEEP_DAYS, keep_days=3)
    first = engine.run_account(account.pk, "command")
    assert first.status == "ok" and first.fetched == n, first.error
    SeenMessage.objects.filter(account=account).update(
        first_seen=timezone.now() - dt.timedelta(days=10))
    original = session_class.__dict__["checks_headers"]
    if not check_headers:
        session_class.checks_headers = False
    try:
        started = time.perf_counter()
        run = engine.run_account(account.pk, "command")
        seconds = time.perf_counter() - started
    finally:
        session_class.checks_headers = original
    assert run.status == "ok" and (run.fetched, run.deleted) == (0, n), (run.error, run.notes)
    assert dovecot.messages(user[0]) == []
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["pop3", "imap"], default="pop3")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    django_in_tmp()
    from django.conf import settings

    from tests.dovecot import Dovecot

    with Dovecot() as dovecot:
        settings.POPADMIN_CA_FILE = str(dovecot.ca_file)
        port = dovecot.pop3s_port if args.protocol == "pop3" else dovecot.imaps_port
        proxy = DelayProxy(port, args.rtt_ms / 1000)
        sizes = (args.protocol, args.messages, args.size)
        times = {False: [], True: []}
        for i in range(args.rounds):
            for check in (i % 2 == 0, i % 2 != 0):
                times[check].append(deleting_session(dovecot, proxy, *sizes, check))
    size_only, checked = statistics.median(times[False]), statistics.median(times[True])
    n = args.messages
    print(f"{n} kept messages of {args.size} B deleted over {args.protocol.upper()}S, "
          f"RTT {args.rtt_ms:g} ms, median of {args.rounds}:")
    print(f"  size alone:          {size_only:6.2f} s")
    print(f"  size + headers:      {checked:6.2f} s  "
          f"(+{(checked - size_only) * 1000 / n:.2f} ms per message)")


if __name__ == "__main__":
    main()
