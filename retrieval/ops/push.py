"""Push (IMAP IDLE) on the dashboard and in /metrics: watched accounts, idle connections
per server, reconnects, watchers alive."""

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Lower
from django.utils import timezone

from retrieval.models import PushWatch, PushWatcher

# Servers listed on the dashboard, busiest first.
LIMIT = 20
CONNECTED = (PushWatch.State.IDLE, PushWatch.State.NOOP)


def live(now):
    return PushWatch.objects.filter(until__gte=now).exclude(watcher="")


def idle_per_host(now) -> list[dict]:
    return list(
        live(now).filter(state__in=CONNECTED).annotate(server=Lower("account__host"))
        .values("server").annotate(n=Count("pk")).order_by("-n", "server")
    )


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
        "reconnects": PushWatch.objects.aggregate(n=Sum("reconnects"))["n"] or 0,
        "watchers": PushWatcher.alive(now).count(),
        "per_host": idle_per_host(now)[:LIMIT],
        "per_host_limit": settings.POPADMIN_IDLE_PER_SERVER,
    }
