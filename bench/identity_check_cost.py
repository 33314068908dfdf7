"""What the header check before a deletion costs (retrieval/identity.py).

A POP3 message kept for N days is deleted by a later session that did not
fetch it: before its DELE, the server's `TOP n 0` is compared with the header
digest recorded when it was taken. This bench times that deleting session
on a real Dovecot over POP3S, with the check and with the size alone, on a
link with the given round-trip time (a delaying proxy in front of Dovecot):

    .venv/bin/python bench/identity_check_cost.py [--messages 1000] [--size 8192] [--rtt-ms 20]

Both sessions fetch nothing; the difference is the TOP answers (one header
block each, pipelined by the hundred where the server offers PIPELINING).
"""

import argparse
import datetime as dt
import socket
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


def deleting_session(dovecot, proxy, n, size, check_headers: bool) -> tuple[float, object]:
    from django.utils import timezone

    from retrieval import engine
    from retrieval.models import RemoteAccount, SeenMessage
    from retrieval.protocols.pop3 import POP3Session
    from tests.factories import make_account

    user = dovecot.add_user()
    dovecot.deliver_many(user[0], n, size=size)
    account = make_account(dovecot, *user, port=proxy.port,
                           keep_policy=RemoteAccount.Keep.KEEP_DAYS, keep_days=3)
    first = engine.run_account(account.pk, "command")
    assert first.status == "ok" and first.fetched == n, first.error
    SeenMessage.objects.filter(account=account).update(
        first_seen=timezone.now() - dt.timedelta(days=10))
    original = POP3Session.checks_headers
    if not check_headers:
        POP3Session.checks_headers = property(lambda self: False)
    try:
        started = time.perf_counter()
        run = engine.run_account(account.pk, "command")
        seconds = time.perf_counter() - started
    finally:
        POP3Session.checks_headers = original
    assert run.status == "ok" and (run.fetched, run.deleted) == (0, n), (run.error, run.notes)
    assert dovecot.messages(user[0]) == []
    return seconds, run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    args = parser.parse_args()
    django_in_tmp()
    from django.conf import settings

    from tests.dovecot import Dovecot

    with Dovecot() as dovecot:
        settings.POPADMIN_CA_FILE = str(dovecot.ca_file)
        proxy = DelayProxy(dovecot.pop3s_port, args.rtt_ms / 1000)
        size_only, _ = deleting_session(dovecot, proxy, args.messages, args.size, False)
        checked, _ = deleting_session(dovecot, proxy, args.messages, args.size, True)
    n = args.messages
    print(f"{n} kept messages of {args.size} B deleted over POP3S, RTT {args.rtt_ms:g} ms:")
    print(f"  size alone:          {size_only:6.2f} s")
    print(f"  size + TOP headers:  {checked:6.2f} s  "
          f"(+{(checked - size_only) * 1000 / n:.2f} ms per message)")


if __name__ == "__main__":
    main()
