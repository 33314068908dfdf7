"""The worker's side of lost claims (retrieval/lost_claims.py): which claims it holds.

A worker marks the claim of each task it receives with its name, and hands
them all back when its broker connection comes back (Celery dropped those
tasks); the dispatcher's tick then knows which claims to release. Connected
in worker processes only (retrieval/apps.py).
"""

import logging

from celery import bootsteps, signals
from django.db import DatabaseError, close_old_connections

log = logging.getLogger(__name__)

def _on_task_received(sender=None, request=None, **kwargs):
    """A worker received (maybe prefetched) a task: its claim names the worker."""
    from retrieval.models import AccountClaim

    hostname = getattr(sender, "hostname", "") or ""
    try:
        AccountClaim.objects.filter(task_id=request.id).update(worker=hostname)
    except DatabaseError:
        # Unmarked, the claim is judged by the broker's queue: released at
        # worst, and the task then runs or is refused as a duplicate.
        log.warning("could not mark the claim of task %s as received", request.id)
        close_old_connections()


class ClaimsStep(bootsteps.StartStopStep):
    """Each time the worker (re)connects to the broker, the tasks it had received
    are gone (Celery drops them: their delivery tags died with the old
    connection), so its claims go back to "waiting": the next tick keeps those
    the broker still holds and releases the rest."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, consumer):
        from retrieval.models import AccountClaim

        try:
            AccountClaim.objects.filter(worker=consumer.hostname).update(worker="")
        except DatabaseError:
            log.warning("could not hand back the claims of %s", consumer.hostname)
            close_old_connections()


def connect(app):
    signals.task_received.connect(_on_task_received, dispatch_uid="popadmin-claim-received")
    app.steps["consumer"].add(ClaimsStep)
