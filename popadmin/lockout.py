"""The page a locked-out login gets (django-axes' AXES_LOCKOUT_CALLABLE)."""

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def locked_out(request, original_response=None, credentials=None):
    # Each try during the lock starts the cool-off again (axes' default), so
    # "N minutes" counts from this very attempt.
    admin = request.path == reverse("admin:login")
    template = "admin/locked_out.html" if admin else "registration/locked_out.html"
    context = {"minutes": lockout_minutes(), "login_url": request.path,
               "title": "Too many failed logins"}
    return render(request, template, context, status=429)
