"""Keeps a running session's lease fresh, however long one message takes.

The engine renews the lease after each message, but a single big message on
a slow link can take longer than the lease; its row would then look
expired. A thread beside the session renews it every third of the lease
instead, with a database connection of its own, and checks that the
session's lock is still held: if the lock's connection dropped, another
worker may take the account, so the session stops at the next message
rather than run beside it.
"""

import logging
import threading

from django.db import DatabaseError, connections

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The session no longer holds its account; it must not go on."""


class Heartbeat:
    def __init__(self, account, token, seconds: float):
        self.account = account
        self.token = token
        self.seconds = seconds
        self.lock = account.session_lock
        self.lost = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-heartbeat-{account.pk}", daemon=True
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """No more renewals (before the session clears its lease); safe to repeat."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def check(self):
        if self.lost:
            raise LeaseLost(self.lost)

    def _beat(self):
        try:
            while not self._stop.wait(self.seconds / 3):
                self.lost = self._renew()
                if self.lost:
                    log.error("account %s: %s", self.account.pk, self.lost)
                    return
        finally:
            # This thread's own connection, not the session's.
            connections.close_all()

    def _renew(self) -> str:
        if not self.lock.alive():
            return ("lost the account's session lock (its database connection dropped); "
                    "stopped so that no other session runs beside this one")
        try:
            renewed = self.account.renew_lease(self.token, self.seconds)
        except DatabaseError:
            # The lock still keeps others out; the next beat tries again.
            log.warning("account %s: could not renew the lease", self.account.pk, exc_info=True)
            return ""
        if not renewed:
            return "another session took over the account; stopped"
        return ""
