"""The dashboard (staff), its live fragment and service switch, /healthz and /metrics."""

import hashlib
import hmac
from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST

from retrieval import alerts
from retrieval import local_storage as storage
from retrieval.models.account import enabled_account_count
from retrieval.ops import charts, health, metrics, push, queries, service

SWITCH_PERMISSION = "retrieval.change_globalsettings"


def staff_required(view):
    """Anonymous: to the admin login; signed in but not staff: 403."""
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("Staff only.")
        return view(request, *args, **kwargs)
    return wrapper


# The day chart's ranges (the dashboard's range picker, ?days=).
DAY_RANGES = (7, 30, 90)


def _days(request) -> int:
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        return 30
    return days if days in DAY_RANGES else 30


def _context(request) -> dict:
    now = timezone.now()
    days = _days(request)
    hourly, daily = queries.hourly(now), queries.daily(now, days)
    return {
        # The admin's header, branding and user tools: the dashboard is part of the console.
        **admin.site.each_context(request),
        "now": now,
        "days": days,
        "day_ranges": DAY_RANGES,
        "charts": charts.charts(hourly, daily),
        "day": queries.summary(hourly),
        "month": queries.summary(daily),
        "sessions": queries.sessions(now),
        "push": push.summary(now),
        "queues": queries.queue_depths(),
        "processes": queries.processes(now),
        "storage": storage.places(),  # free space of MAIL_ROOT and the spool
        "workers": queries.workers(now),
        "attention": queries.attention(now),
        # Open alert episodes (retrieval/alerts.py): what has been sent and not yet cleared.
        "alerts": list(alerts.open_episodes()[:20]),
        "outlook": queries.failing_outlook(now),
        "switch": service.last_switch(),
        "can_switch": request.user.has_perm(SWITCH_PERMISSION),
    }


@never_cache
@staff_required
@require_GET
def dashboard(request):
    return render(request, "dashboard/dashboard.html", _context(request))


@never_cache
@staff_required
@require_GET
def live(request):
    """The page's changing part, fetched every few seconds by static/dashboard/dashboard.js."""
    return render(request, "dashboard/_live.html", _context(request))


@staff_required
@require_POST
def switch(request):
    if not request.user.has_perm(SWITCH_PERMISSION):
        raise PermissionDenied("You may not start or stop the service.")
    running = request.POST.get("running") == "1"
    if not running and request.POST.get("confirm") != "1":
        # Stopping halts every account's checks: asked once more, with what it means.
        return render(request, "dashboard/confirm_stop.html",
                      {**admin.site.each_context(request), "title": "Stop mail collection?",
                       "enabled": enabled_account_count()})
    service.set_running(running)
    return redirect("dashboard")


@never_cache
@require_GET
def healthz(request):
    only = [n for n in request.GET.get("only", "").split(",") if n]
    report = health.check(only)
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@never_cache
@require_GET
def metrics_view(request):
    if not _may_scrape(request):
        if request.user.is_authenticated:
            raise PermissionDenied("Staff only.")
        response = HttpResponse("authentication required\n", status=401,
                                content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="popadmin metrics"'
        return response
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request) -> bool:
    user = request.user
    if user.is_authenticated and user.is_active and user.is_staff:
        return True
    token = settings.POPADMIN_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer" or not given:
        return False
    # Digests first, so neither the content nor the length of the token leaks.
    return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(),
                               hashlib.sha256(token.encode()).digest())
