"""Publishing the fetch tasks of claims just committed (retrieval/dispatcher.py).

A claim is written and committed before its task is sent (on_commit), so a
failure to send must release it: otherwise the claim would hold its
account, and a slot of the global cap, for POPADMIN_CLAIM_HOLD_SECONDS with
no task behind it. The first failure (the broker down or restarting)
releases the claim of that task and of every task after it, without trying
them (each try would wait for the broker again), and is logged in one line:
the accounts are due again at the next tick, and a request keeps its
trigger (pending_trigger), so it is served first then. Nothing escapes to
the caller: a finished session's refill must not fail for it.
"""

import logging

from retrieval.models import AccountClaim

log = logging.getLogger(__name__)

# Rows per query, so a long list stays under SQLite's parameter limit.
_CHUNK = 500


def publish(batch, send) -> int:
    """send(pk, trigger, task id) for each of `batch`; returns how many were sent."""
    for sent, (pk, trigger, task_id) in enumerate(batch):
        try:
            send(pk, trigger, task_id)
        except Exception as exc:  # whatever the transport raises: the claims must go
            unsent = batch[sent:]
            released = _release(unsent)
            log.warning("could not queue %d check(s) (%s: %s); %d claim(s) released, the "
                        "next dispatcher tick tries again", len(unsent), type(exc).__name__,
                        exc, released)
            return sent
    return len(batch)


def publish_checks(batches, send) -> int:
    """send(account ids, task id) for each check batch (retrieval/check_batch.py);
    a failure releases the claims of that batch and of every one after it."""
    for sent, (pks, task_id) in enumerate(batches):
        try:
            send(pks, task_id)
        except Exception as exc:  # whatever the transport raises: the claims must go
            unsent = [(pk, "", tid) for pks_, tid in batches[sent:] for pk in pks_]
            released = _release(unsent)
            log.warning("could not queue %d check(s) in %d batch(es) (%s: %s); %d claim(s) "
                        "released, the next dispatcher tick tries again", len(unsent),
                        len(batches) - sent, type(exc).__name__, exc, released)
            return sent
    return len(batches)


def _release(unsent) -> int:
    try:
        released = 0
        for start in range(0, len(unsent), _CHUNK):
            part = unsent[start : start + _CHUNK]
            released += AccountClaim.objects.filter(
                account_id__in=[pk for pk, _, _ in part],
                task_id__in=[tid for _, _, tid in part]).delete()[0]
        return released
    except Exception:  # the database gone too: the next tick finds the claims lost
        log.warning("could not release the claims of unsent tasks; the next tick will",
                    exc_info=True)
        return 0
