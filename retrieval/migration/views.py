"""The admin's Import page: fetchmail/getmail files, previewed, then confirmed.

Upload -> preview (a dry run: what the command's --dry-run shows) -> confirm
(the same files, held server-side by pending.py; a rewrite the preview marks
"Check first" needs its box ticked) -> result with links to the accounts.
Staff with the add permission on remote accounts only; updating existing
accounts or the global settings needs those change permissions too.
"""

from functools import wraps

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import pending
from .forms import FetchmailForm, GetmailForm
from .service import MigrationError

PERMISSION = "retrieval.add_remoteaccount"
TEMPLATE = "admin/popadmin/import.html"
BADGES = {"create": "ok", "update": "info", "unchanged": "muted", "refused": "bad"}


def importer_required(view):
    """Anonymous: to the admin login; signed in without the permission: 403."""
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        user = request.user
        if not (user.is_active and user.is_staff and user.has_perm(PERMISSION)):
            raise PermissionDenied("Importing accounts needs the permission to add them.")
        return view(request, *args, **kwargs)
    return wrapper


@never_cache
@importer_required
@require_http_methods(["GET", "POST"])
def import_page(request):
    """The upload forms; a posted form is previewed (nothing written)."""
    fetchmail = FetchmailForm(prefix="fm")
    getmail = GetmailForm(prefix="gm")
    if request.method == "POST":
        kind = request.POST.get("kind")
        if kind == "getmail":
            getmail = GetmailForm(request.POST, request.FILES, prefix="gm")
            form = getmail
        else:
            fetchmail = FetchmailForm(request.POST, request.FILES, prefix="fm")
            form = fetchmail
        if form.is_valid():
            return _preview(request, form.cleaned_data["job"], form)
    return _render(request, "upload", fetchmail=fetchmail, getmail=getmail)


def _preview(request, job, form):
    try:
        report = pending.run(job, dry_run=True)
    except MigrationError as e:
        return _render(request, "upload", errors=e.errors, **_forms(job["kind"], form))
    missing = _missing_permissions(request.user, report)
    # The rewrites this preview marks "Check first": the box confirms these, no others.
    job = {**job, "to_confirm": report.to_confirm()}
    try:
        token = pending.hold(request.session, request.user, job) if not missing else ""
    except pending.TooLarge:
        return _render(request, "upload", errors=[
            "These files are too large to hold for confirmation: import them in several "
            "parts."], **_forms(job["kind"], form))
    return _render(request, "preview", report=report, rows=_rows(report), token=token,
                   missing=missing)


@never_cache
@importer_required
@require_POST
def import_confirm(request):
    job = pending.take(request.session, request.user, request.POST.get("token", ""))
    if job is None:
        return _render(request, "upload", errors=[
            "This import was already done, replaced by a newer preview, or has expired: "
            "upload the files again."], **_forms())
    try:
        with transaction.atomic():
            ticked = request.POST.get("confirm_rewrites") == "1"
            confirmed = job.get("to_confirm", []) if ticked else []
            report = pending.run(job, dry_run=False, confirmed=confirmed)
            # Checked again on what is written now: the accounts may have changed since.
            missing = _missing_permissions(request.user, report)
            if missing:
                transaction.set_rollback(True)
    except MigrationError as e:
        return _render(request, "upload", errors=e.errors, **_forms())
    if missing:
        return _render(request, "upload", errors=["Nothing imported.", *missing], **_forms())
    return _render(request, "result", report=report, rows=_rows(report))


def _missing_permissions(user, report):
    """What this import would change that the user may not change."""
    missing = []
    if report.count("update") and not user.has_perm("retrieval.change_remoteaccount"):
        missing.append(f"{report.count('update')} existing account(s) would be updated, "
                       "which needs the permission to change remote accounts.")
    if report.settings and not user.has_perm("retrieval.change_globalsettings"):
        missing.append("The global settings would gain entries, which needs the permission "
                       "to change them.")
    return missing


def _rows(report):
    rows = []
    for row in report.rows:
        url = ""
        if row.account_id and row.action != "refused":
            url = reverse("admin:retrieval_remoteaccount_change", args=[row.account_id])
        rows.append({"row": row, "url": url, "badge": BADGES[row.action]})
    return rows


def _forms(kind=None, bound=None):
    return {"fetchmail": bound if kind == "fetchmail" else FetchmailForm(prefix="fm"),
            "getmail": bound if kind == "getmail" else GetmailForm(prefix="gm")}


def _render(request, step, **context):
    return render(request, TEMPLATE, {
        **admin.site.each_context(request), "title": "Import from fetchmail or getmail",
        "step": step, **context,
    })
