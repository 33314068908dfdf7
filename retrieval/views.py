"""The user's mail page (remote accounts, status, Check now) and the login-trigger API."""

import hashlib
import hmac
import json
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.policy import allowed
from popadmin import audit
from retrieval import triggers
from retrieval.models import RemoteAccount, Run

# The last result in the words the page uses (Run.Status values).
RESULT_WORDS = {
    Run.Status.OK: "OK",
    Run.Status.PARTIAL: "partly failed",
    Run.Status.ERROR: "failed",
    Run.Status.SKIPPED: "skipped",
    Run.Status.RUNNING: "running",
}
MAX_ADDRESS_LENGTH = 320


@dataclass
class AccountRow:
    account: RemoteAccount
    latest: Run | None

    @property
    def result(self) -> str:
        status = self.account.last_status
        return RESULT_WORDS.get(status, status) if status else "never checked"

    @property
    def progress(self) -> dict:
        return run_progress(self.latest)


def run_progress(run: Run | None) -> dict:
    """What the progress line shows; counters only, never anything about credentials."""
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


def _get_account(request, pk) -> RemoteAccount:
    """The user's own account; anyone else's is simply not there (404)."""
    return get_object_or_404(triggers.user_accounts(request.user), pk=pk)


def _require_manual_check(user):
    if not allowed(user, "manual_check"):
        raise PermissionDenied("Your group does not allow manual checks.")


@login_required
def accounts_page(request):
    latest = Run.objects.filter(account=OuterRef("pk")).order_by("-started").values("pk")[:1]
    accounts = list(
        triggers.user_accounts(request.user)
        .select_related("owner")
        .annotate(latest_run_id=Subquery(latest))
    )
    runs = Run.objects.in_bulk([a.latest_run_id for a in accounts if a.latest_run_id])
    ctx = {
        "rows": [AccountRow(a, runs.get(a.latest_run_id)) for a in accounts],
        "mailbox": getattr(request.user, "mailbox", None),
        "can_check": allowed(request.user, "manual_check"),
        "now": timezone.now(),
    }
    return render(request, "mail/accounts.html", ctx)


@login_required
@require_POST
def check_account(request, pk):
    account = _get_account(request, pk)
    _require_manual_check(request.user)
    return _checked(request, [account])


@login_required
@require_POST
def check_all(request):
    _require_manual_check(request.user)
    return _checked(request, list(triggers.user_accounts(request.user)))


def _checked(request, accounts: list[RemoteAccount]):
    queued = triggers.check_now(accounts)
    audit.record_check_now(accounts, queued, via="user page")
    # The page's script asks for JSON and then follows the progress itself;
    # without script the form posts normally and comes back to the page.
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"queued": queued})
    if queued:
        messages.success(request, f"Check started for {len(queued)} account(s).")
    else:
        messages.info(request, "Nothing to start: the account is being checked or was "
                               "checked a moment ago.")
    return redirect("mail-accounts")


@never_cache
@login_required
def progress(request, pk):
    account = _get_account(request, pk)
    return JsonResponse(run_progress(account.runs.order_by("-started").first()))


@csrf_exempt
def login_trigger(request):
    """The local mail server reports a POP3/IMAP login: check that mailbox's accounts."""
    token = settings.POPADMIN_TRIGGER_TOKEN
    if not token:
        raise Http404  # off unless configured: no token, no endpoint
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not _bearer_matches(request, token):
        response = JsonResponse({"error": "invalid token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="popadmin"'
        return response
    try:
        data = _trigger_fields(request)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    triggers.on_mail_login(data["address"], data["service"])
    # The same answer whether or not the address exists or anything was queued.
    return JsonResponse({"status": "accepted"}, status=202)


def _bearer_matches(request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    # Digests first, so neither the content nor the length of the token leaks.
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.strip().encode()).digest(),
                               digest(token.encode()).digest())


def _storable(text: str) -> bool:
    """No lone surrogate (JSON allows one, UTF-8 and the database do not) and no control
    character (PostgreSQL text cannot hold NUL; no address has any)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return text.isprintable()


def _trigger_fields(request) -> dict:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: nesting deeper than the interpreter's stack.
            raise ValueError("the body is not valid JSON")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
    else:
        body = request.POST
    address, service = body.get("address"), body.get("service")
    if not isinstance(address, str) or not address.strip() or len(address) > MAX_ADDRESS_LENGTH:
        raise ValueError("address is required")
    if not _storable(address):
        raise ValueError("address is not a valid address")
    if service not in triggers.LOGIN_SERVICES:
        raise ValueError("service must be pop3 or imap")
    return {"address": address, "service": service}
