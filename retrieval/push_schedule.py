"""Scheduled polling of pushed accounts: a safety check while IDLE is healthy on all their
folders, else as usual."""

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from retrieval.models import PushWatch, RemoteAccount
from retrieval.models.push import healthy_watch


def safety_interval(account, interval: dt.timedelta, now) -> dt.timedelta:
    """The poll interval of an account whose push is healthy on every folder it fetches:
    a safety check every few hours (with NOTIFY one connection watches them all). A folder
    left unwatched (the server's limit of idle connections) is found only by polls, so
    such an account keeps its usual interval."""
    if account.protocol != "imap":
        return interval
    if not account.push:
        # Switched off just now: its watch may look healthy until the watcher's next round.
        return interval
    every_folder = Q(notify_supported=True) | Q(connections__gte=len(account.effective_folders))
    if not healthy_watch(now).filter(every_folder, account_id=account.pk).exists():
        return interval
    return max(interval, dt.timedelta(minutes=settings.POPADMIN_PUSH_SAFETY_MINUTES))


def resume_polling(account_ids, now=None) -> int:
    """Accounts whose push stopped being healthy are polled again from now on."""
    now = now or timezone.now()
    return RemoteAccount.objects.filter(pk__in=list(account_ids), next_check__gt=now).update(
        next_check=now)


def lapse_dead_watches(now=None) -> int:
    """Watches whose lease ran out while they said "healthy" (the watcher died):
    their accounts are polled again at once, until another watcher takes them."""
    now = now or timezone.now()
    rows = PushWatch.objects.filter(
        until__lt=now, state__in=(PushWatch.State.IDLE, PushWatch.State.NOOP))
    ids = list(rows.values_list("account_id", flat=True)[:5000])
    if not ids:
        return 0
    PushWatch.objects.filter(account_id__in=ids, until__lt=now).update(
        state=PushWatch.State.CONNECTING)
    return resume_polling(ids, now)
