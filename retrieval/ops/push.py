"""Push (IMAP IDLE) on the dashboard and in /metrics: watched accounts, idle connections
per server (one per watched folder), reconnects, watchers alive."""

from django.conf import settings
from django.db.models import Case, Count, F, Q, Sum, When
from django.db.models.functions import Lower
from django.utils import timezone

from retrieval.models import PushWatch, PushWatcher

# Servers listed on the dashboard, busiest first.
LIMIT = 20
CONNECTED = (PushWatch.State.IDLE, PushWatch.State.NOOP)


def live(now):
    return PushWatch.objects.filter(until__gte=now).exclude(watcher="")


def idle_per_host(now) -> list[dict]:
    """Idle connections (one per watched folder) per server. An account idling or polling
    with NOOP has all of its watched folders connected; one still connecting or failing
    on some folder may hold the others."""
    held = Case(When(state__in=CONNECTED, then=F("connections")), default=F("connected"))
    return list(
        live(now).annotate(server=Lower("account__host")).values("server")
        .annotate(n=Sum(held)).filter(n__gt=0).order_by("-n", "server")
    )


def partly_watched(now) -> int:
    """Accounts watched on only their first folders: the server's limit was reached."""
    rows = (live(now).exclude(account__folders=[]).exclude(notify_supported=True)
            .values_list("connections", "account__folders"))
    return sum(1 for n, folders in rows if n < len(folders or []))


def summary(now=None) -> dict:
    now = now or timezone.now()
    counts = live(now).aggregate(
        watched=Count("pk"),
        idle=Count("pk", filter=Q(state=PushWatch.State.IDLE)),
        noop=Count("pk", filter=Q(state=PushWatch.State.NOOP)),
        failing=Count("pk", filter=Q(state=PushWatch.State.FAILING)),
    )
    return {
        **counts,
        "limited": PushWatch.objects.filter(state=PushWatch.State.LIMIT).count(),
        "partly": partly_watched(now),
        "reconnects": PushWatch.objects.aggregate(n=Sum("reconnects"))["n"] or 0,
        "watchers": PushWatcher.alive(now).count(),
        "per_host": idle_per_host(now)[:LIMIT],
        "per_host_limit": settings.POPADMIN_IDLE_PER_SERVER,
    }
