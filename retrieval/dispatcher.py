"""Who is due, and admission under the global concurrency cap (invariant 4)."""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from retrieval.models import GlobalSettings, RemoteAccount

log = logging.getLogger(__name__)


def running_sessions(now=None) -> int:
    now = now or timezone.now()
    return RemoteAccount.objects.filter(lease_token__isnull=False, lease_expires__gt=now).count()


def dispatch(enqueue) -> list[int]:
    """Claim due accounts, longest-waiting first, and hand each to `enqueue(id)`."""
    gs = GlobalSettings.load()
    if not gs.service_running:
        return []
    now = timezone.now()
    slots = gs.effective_max_concurrent() - running_sessions(now)
    if slots <= 0:
        return []
    due = (
        RemoteAccount.objects.filter(enabled=True)
        .filter(Q(next_check__isnull=True) | Q(next_check__lte=now))
        .filter(Q(lease_token__isnull=True) | Q(lease_expires__lt=now))
        .order_by("next_check", "pk")
        .values_list("pk", "next_check")[:slots]
    )
    claimed = []
    for pk, next_check in due:
        # The conditional UPDATE is the claim: a second dispatcher tick that
        # read the same row gets 0 and skips it.
        won = RemoteAccount.objects.filter(pk=pk, next_check=next_check).update(
            next_check=now + _CLAIM_HOLD
        )
        if won:
            claimed.append(pk)
            transaction.on_commit(lambda pk=pk: enqueue(pk))
    if claimed:
        log.info("dispatched %d account(s)", len(claimed))
    return claimed


# A claimed account is not due again until its run sets the real next check;
# if the task is lost this long, the account becomes due again by itself.
_CLAIM_HOLD = dt.timedelta(minutes=15)
