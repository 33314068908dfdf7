"""The user's mail page: remote accounts with status, Check now, live progress."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.policy import allowed
from popadmin import audit
from retrieval import triggers
from retrieval.account_card import account_card, card
from retrieval.models import GlobalSettings, Run
from retrieval.models.refused import MAX_ATTEMPTS
from retrieval.oauth.permissions import may_connect
from retrieval.refusals import held_messages
from retrieval.views.access import own_account, require_manual_check
from retrieval.views.language import language_form


def home(request):
    """`/`: users to their page, staff to the dashboard."""
    if request.user.is_authenticated and request.user.is_staff:
        return redirect("dashboard")
    return redirect("mail-home")


def run_progress(run: Run | None) -> dict:
    """The latest run's counters; never anything about credentials."""
    if run is None:
        return {"status": None, "done": 0, "total": 0, "delivered": 0, "error": "",
                "run_id": None, "started": None, "finished": None}
    return {
        "status": run.status,
        "done": run.fetched,
        "total": run.total,
        "delivered": run.delivered,
        "error": run.error,
        "run_id": run.pk,
        "started": run.started.isoformat(),
        "finished": run.finished.isoformat() if run.finished else None,
    }


@login_required
def accounts_page(request):
    latest = Run.objects.filter(account=OuterRef("pk")).order_by("-started").values("pk")[:1]
    accounts = list(
        triggers.user_accounts(request.user)
        .select_related("owner", "claim", "push_watch")
        .annotate(latest_run_id=Subquery(latest))
    )
    runs = Run.objects.in_bulk([a.latest_run_id for a in accounts if a.latest_run_id])
    refused = held_messages(accounts)
    running, now = GlobalSettings.is_running(), timezone.now()
    cards = [(a, card(a, runs.get(a.latest_run_id), running, now, may_connect(request.user, a),
                      refused.get(a.pk, [])))
             for a in accounts]
    mailbox = getattr(request.user, "mailbox", None)
    ctx = {
        "cards": cards,
        "mailbox": mailbox,
        "language_form": language_form(mailbox),
        "can_check": allowed(request.user, "manual_check"),
        "can_manage": allowed(request.user, "manage_own_accounts"),
        "service_running": running,
        "max_attempts": MAX_ATTEMPTS,
        "nav": "accounts",
    }
    return render(request, "mail/accounts.html", ctx)


@login_required
@require_POST
def check_account(request, pk):
    account = own_account(request, pk)
    require_manual_check(request.user)
    return _checked(request, [account])


@login_required
@require_POST
def check_all(request):
    require_manual_check(request.user)
    return _checked(request, list(triggers.user_accounts(request.user)))


def _checked(request, accounts):
    queued = triggers.check_now(accounts)
    audit.record_check_now(accounts, queued, via="user page")
    # The page's script asks for JSON and then follows the progress itself;
    # without script the form posts normally and comes back to the page it
    # was on (its `next` field: the mail page or the accounts page).
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"queued": queued})
    if queued:
        # English keeps "account(s)"; a language with plural forms uses them.
        messages.success(request, ngettext("Check started for %(count)s account(s).",
                                           "Check started for %(count)s account(s).",
                                           len(queued)) % {"count": len(queued)})
    elif not GlobalSettings.is_running():
        messages.warning(request, _("Nothing started: the administrator has stopped mail "
                                    "collection. Checks start again when it is switched on."))
    else:
        messages.info(request, _("Nothing to start: the account is being checked or was "
                                 "checked a moment ago."))
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return redirect(back)
    return redirect("mail-accounts")


@never_cache
@login_required
def progress(request, pk):
    account = own_account(request, pk)
    body = run_progress(account.runs.order_by("-started").first())
    body["card"] = account_card(account, may_reconnect=may_connect(request.user, account))
    return JsonResponse(body)
