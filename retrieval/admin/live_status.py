"""The admin's account list and account page follow a check without a reload.

Both pages ask `live-status/?id=…` (JSON, staff with the view permission only)
every second while a shown account is queued or running, else every ten
seconds. The answer holds what a reload would render, from the same code: the
list's status, last-check and last-error cells (RemoteAccountAdmin's columns),
and for the account page its whole status block with the progress line the
user page's cards show (retrieval/account_card.py).
"""

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from retrieval.account_card import card, latest_run
from retrieval.admin import display
from retrieval.explain import explain
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount

# A changelist page shows at most 100 rows.
MAX_IDS = 200
STATUS_TEMPLATE = "admin/retrieval/remoteaccount/_status.html"


def busy(account, now) -> bool:
    """A check of the account is asked for, queued or running (from the loaded row)."""
    if account.pending_trigger:
        return True
    if account.lease_token and account.lease_expires and account.lease_expires > now:
        return True
    try:
        return account.claim.until > now
    except AccountClaim.DoesNotExist:
        return False


def status_context(model_admin, request, account) -> dict:
    """What the account page's status block shows (the page and the live answer)."""
    now = timezone.now()
    progress = card(account, latest_run(account), GlobalSettings.is_running(), now)
    return {"account": account, "badge": display.badge(account),
            "why": explain(account.last_error, account.host),
            "before_change": display.edited_since_error(account),
            "check_pending": busy(account, now),
            "progress": progress,
            "refused": list(account.refused_messages.all()),
            "may_act": model_admin.has_change_permission(request, account)}


def live_status_view(model_admin, request):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    ids = [int(v) for v in request.GET.getlist("id") if v.isdigit()][:MAX_IDS]
    now = timezone.now()
    answer = {}
    for account in RemoteAccount.objects.filter(pk__in=ids).select_related("owner", "claim"):
        answer[str(account.pk)] = {
            "active": busy(account, now),
            "cells": {"status_badge": str(model_admin.status_badge(account)),
                      "checked": str(model_admin.checked(account)),
                      "last_error_display": str(model_admin.last_error_display(account))},
        }
    if request.GET.get("page") and len(ids) == 1 and str(ids[0]) in answer:
        account = RemoteAccount.objects.get(pk=ids[0])
        context = status_context(model_admin, request, account)
        entry = answer[str(account.pk)]
        entry["active"] = entry["active"] or context["progress"]["active"]
        entry["html"] = render_to_string(STATUS_TEMPLATE, context, request=request)
    response = JsonResponse({"accounts": answer})
    add_never_cache_headers(response)
    return response
