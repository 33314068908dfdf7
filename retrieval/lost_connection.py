"""A session that lost its database connection says so, once the database answers.

A database restart (or a dropped connection) takes the session's advisory
lock with it, and the session cannot write its run's end while the database
is away. The next dispatcher tick then finds the lock gone and ends the run
as a dead worker's (Run.end_dead: "stopped unexpectedly (killed or
crashed)"). The worker is alive, though: it knows what happened, so a small
thread keeps trying until the database is back (or EXPLAIN_FOR runs out)
and ends the run, or rewrites the cleanup's words, with what really
happened (Run.LOST_DATABASE). A worker that was killed writes nothing, so
its runs keep the cleanup's words.
"""

import logging
import threading
import time

from django.db import DatabaseError, connections

from retrieval import history

log = logging.getLogger(__name__)

# How long the worker keeps trying to reach the database to say so.
EXPLAIN_FOR = 600.0
RETRY_SECONDS = 2.0


def explain(account_id: int, worker: str, since) -> int:
    """End (or re-word, if the cleanup ended them first) the runs of this
    account that this process started since `since` and that ended without
    their session's word; returns how many. Counts a run once (Run.end_dead)."""
    from retrieval.models import Run
    from retrieval.models.run import DIED, LOST_DATABASE

    runs = Run.objects.filter(account_id=account_id, worker=worker, started__gte=since)
    ended = Run.end_dead(runs, error=LOST_DATABASE)
    return ended + runs.filter(status=Run.Status.ERROR, error=DIED).update(error=LOST_DATABASE)


def explain_later(account_id: int, since) -> threading.Thread:
    """Start the thread that explains this account's runs once the database answers."""
    thread = threading.Thread(target=_keep_trying, args=(account_id, history.worker_id(), since),
                              name=f"explain-lost-connection-{account_id}", daemon=True)
    thread.start()
    return thread


def _keep_trying(account_id: int, worker: str, since):
    deadline = time.monotonic() + EXPLAIN_FOR
    try:
        while True:
            try:
                explain(account_id, worker, since)
                return
            except DatabaseError:
                # This thread's own connection, broken: a new one next time.
                connections.close_all()
            if time.monotonic() > deadline:
                log.warning("account %s: the database did not come back; its run says the "
                            "worker stopped unexpectedly", account_id)
                return
            time.sleep(RETRY_SECONDS)
    finally:
        connections.close_all()
