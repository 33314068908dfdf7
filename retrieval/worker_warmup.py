"""A worker's pool processes start ready for their first session.

A session reuses what the one before it in the same process built: the TLS
context (the system CA store and the configured CA file), the password keys,
the protocol modules, and two database connections (Django's and the one that
holds session locks, retrieval/lock_connection.py). A freshly forked pool
process has none of them, so its first session would build them all while a
person or a push waits: its sign-in alone took 0.22-0.9 s against 0.05 s for
a later one on a loaded 2-core machine, and the pushes queued behind the first
sessions of a new worker wait for them (docs/architecture/push.md).

The parent builds what its children inherit before the pool starts
(worker_init); each child opens its own connections as it starts
(worker_process_init), before any task is handed to it. Both are best effort:
a database that is not there yet only leaves the work to the first session.
"""

import logging

from celery.signals import worker_init, worker_process_init
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from popadmin.net import tls
from popadmin.secrets import SecretError, fernet
from retrieval import lock_connection

log = logging.getLogger(__name__)


class _Options:
    """What tls.make_context reads of a connection's settings."""

    host = ""

    def __init__(self, verify_tls: bool, ca_file: str | None):
        self.verify_tls = verify_tls
        self.ca_file = ca_file


def before_fork() -> None:
    """In the worker's parent: what each pool process would otherwise build at its first session."""
    # Imported here, once, instead of in each child at its first session.
    from retrieval.models import GlobalSettings
    from retrieval.protocols import imap, pop3  # noqa: F401

    try:
        fernet()
    except SecretError:
        pass  # a session reports the unusable key in plain words
    try:
        ca_file = GlobalSettings.load().effective_ca_file()
    except DatabaseError:
        log.warning("worker warm-up: database not reachable; the first sessions build "
                    "their TLS contexts themselves", exc_info=True)
        return
    finally:
        # No connection may be inherited: parent and child would share its socket.
        connections.close_all()
    for verify in (True, False):
        try:
            tls.make_context(_Options(verify, ca_file))
        except tls.TLSError:
            pass  # an unreadable CA file: each session reports it, as before


def in_pool_process() -> None:
    """In a pool process as it starts: its database connections, opened before any task waits."""
    try:
        connections[DEFAULT_DB_ALIAS].ensure_connection()
        if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
            with lock_connection.guard:
                lock_connection.current().ensure_connection()
    except DatabaseError:
        log.warning("worker warm-up: database not reachable; the first session connects",
                    exc_info=True)


@worker_init.connect(dispatch_uid="retrieval.worker_warmup.before_fork")
def _on_worker_init(**kwargs):
    before_fork()
    # Connected only now, after Celery's Django fixup connected its own handler
    # (in its worker_init, which runs before this one): that handler closes the
    # connections a child finds open, and must not close these.
    worker_process_init.connect(_on_worker_process_init,
                                dispatch_uid="retrieval.worker_warmup.in_pool_process")


def _on_worker_process_init(**kwargs):
    in_pool_process()
