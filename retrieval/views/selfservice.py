"""Users add, edit, disable and delete their own remote accounts (group policy permitting).

Adding starts from the address: the server settings are suggested
(retrieval/autoconfig.py) and the form comes pre-filled. Test connection
logs in and changes nothing; Save tests too, and a failing test keeps the
form open with the reason and a "save anyway" choice.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from retrieval import autoconfig, credential_reuse, explain, imported_state, probe_limits
from retrieval.models import FolderMark, RemoteAccount
from retrieval.oauth import offer
from retrieval.oauth.tokens import has_grant, needs_sign_in
from retrieval.probe import probe_account
from retrieval.selfservice_forms import AddressForm, UserAccountForm, group_limits
from retrieval.views.access import own_account, require_self_service

# Written beside the form's own fields when a user saves an account. Certificate
# checks and network reach keep an administrator's choice unless the user points
# the account at another server (UserAccountForm.clean).
SAVED_WITH_FORM = ("password_encrypted", "network_restricted", "verify_tls", "next_check",
                   "consecutive_failures", "failing_since")


@login_required
def add_account(request):
    require_self_service(request.user)
    mailbox = request.user.mailbox
    if request.method == "POST":
        return _account_form(request, RemoteAccount(owner=mailbox), "mail/account_form.html")
    address_form = AddressForm(request.GET or None)
    if not address_form.is_valid():
        return render(request, "mail/account_address.html", {"form": address_form})
    address = address_form.cleaned_data["address"]
    found = _chosen_first(autoconfig.suggest(address), request.GET.get("pick", ""))
    initial = {"username": address, "name": address}
    if found:
        pick = found[0]
        initial.update(protocol=pick.protocol, security=pick.security, host=pick.host,
                       port=pick.port)
    sign_in = offer.offer_for(found)
    if sign_in:
        initial["auth_method"] = RemoteAccount.AuthMethod.XOAUTH2
    form = UserAccountForm(instance=RemoteAccount(owner=mailbox), initial=initial,
                           **group_limits(request.user))
    return _render(request, "mail/account_form.html",
                   {"form": form, "address": address, "suggestions": found, "adding": True,
                    "oauth_offer": sign_in,
                    "no_sign_in": None if sign_in else offer.missing_sign_in(found)})


def _chosen_first(found: list, pick: str) -> list:
    """The suggestion the user chose under "Also offered" (by its label) first,
    so the form starts from it; the others stay offered."""
    chosen = [s for s in found if s.label == pick][:1]
    return chosen + [s for s in found if s not in chosen]


@login_required
def edit_account(request, pk):
    account = own_account(request, pk)
    require_self_service(request.user)
    if request.method == "POST":
        return _account_form(request, account, "mail/account_form.html")
    form = UserAccountForm(instance=account, **group_limits(request.user))
    return render(request, "mail/account_form.html", {"form": form, "account": account,
                                                      "has_grant": has_grant(account)})


def _account_form(request, instance, template):
    adding = instance.pk is None
    form = UserAccountForm(request.POST, instance=instance,
                           **group_limits(request.user))
    sign_in = offer.from_post(request.POST.get("oauth_provider"))
    ctx = {"form": form, "adding": adding, "account": None if adding else instance,
           "oauth_offer": sign_in, "has_grant": has_grant(instance)}
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    if not form.is_valid():
        if wants_json:
            return JsonResponse({"ok": False, "errors": form.errors.get_json_data()}, status=400)
        return _render(request, template, ctx, status=400)
    account = form.save(commit=False)
    if (form.server_changed and account.auth_method != RemoteAccount.AuthMethod.PASSWORD
            and has_grant(account)):
        return _sign_in_again(request, form, account, sign_in, ctx, wants_json)
    if needs_sign_in(account):
        return _save_then_sign_in(request, form, account, adding, sign_in, ctx, wants_json)
    refused = probe_limits.refusal(request.user, account)
    if refused:
        return _too_many_tests(request, template, ctx, refused, wants_json)
    result = probe_account(account)
    ctx["test"] = _test_words(result, account)
    if request.POST.get("action") == "test":
        if wants_json:
            return JsonResponse(ctx["test"])
        return _render(request, template, ctx)
    if not result.ok and not request.POST.get("save_anyway"):
        ctx["offer_save_anyway"] = True
        return _render(request, template, ctx, status=400)
    save_account(form, account, adding)
    _tell_imported(request, form, account)
    if form.exemptions_dropped:
        messages.warning(request, _("The account now points at another server: certificate "
                                    "checks and the network restriction an administrator had "
                                    "turned off for the old server apply again."))
    words = {"account": account, "line": ctx["test"]["line"]}
    if adding:
        messages.success(request, _("Account %(account)s added. Test connection: %(line)s") % words)
    else:
        messages.success(request, _("Account %(account)s saved. Test connection: %(line)s") % words)
    return redirect("mail-accounts")


def _render(request, template, ctx, status=200):
    response = render(request, template, ctx, status=status)
    if ctx.get("oauth_offer"):
        ctx["oauth_offer"].allow_form_to_sign_in(response)
    return response


def save_account(form, account, adding):
    """Save what the self-service form validated (the pages and the API)."""
    # Changed settings deserve a fresh try: no back-off from the old ones.
    account.next_check = timezone.now()
    account.consecutive_failures = 0
    account.failing_since = None
    if adding:
        account.save()
    else:
        # Only what the user edits: the worker may be writing the status meanwhile.
        account.save(update_fields=[*form._meta.fields, *SAVED_WITH_FORM])
        # The cheap check's marks (docs/architecture/cheap-checks.md): mail the old settings
        # left alone is below them, and only a fetch would find it now.
        FolderMark.objects.filter(account_id=account.pk).delete()


def _tell_imported(request, form, account):
    if notice := imported_state.keep_policy_notice(account, form.changed_data):
        messages.warning(request, notice)


def _save_then_sign_in(request, form, account, adding, sign_in, ctx, wants_json):
    """Test cannot log in before the sign-in; Save saves and goes to the provider."""
    if request.POST.get("action") == "test":
        ctx["test"] = {"ok": False, "line": "", "admin_only": False,
                       "summary": _("This account signs in at its provider, not with a "
                                    "password."),
                       "next_step": _("Press Save: you are sent to the provider to sign in, and "
                                      "come back here.")}
        if wants_json:
            return JsonResponse(ctx["test"])
        return _render(request, "mail/account_form.html", ctx)
    save_account(form, account, adding)
    _tell_imported(request, form, account)
    if adding:
        said = _("Account %(account)s added. Sign in at the provider to let popadmin read it.")
    else:
        said = _("Account %(account)s saved. Sign in at the provider to let popadmin read it.")
    messages.success(request, said % {"account": account})
    query = {"next": reverse("mail-accounts")}
    if sign_in:
        query["provider"] = sign_in.provider.pk
    return redirect(reverse("oauth-connect", args=[account.pk]) + "?" + urlencode(query))


def _too_many_tests(request, template, ctx, refused: str, wants_json):
    """Over a Test connection limit: nothing connects, nothing is saved."""
    ctx["test"] = {"ok": False, "line": refused, "summary": refused,
                   "next_step": probe_limits.WHY, "admin_only": False}
    if wants_json:
        return JsonResponse(ctx["test"], status=429)
    return _render(request, template, ctx, status=429)


def _sign_in_again(request, form, account, sign_in, ctx, wants_json):
    """The server changed under an OAuth2 account: its grant is not sent there. Test says
    so on the host field; Save disconnects the grant and goes on to a new sign-in."""
    if request.POST.get("action") == "test":
        form.add_error("host", str(credential_reuse.SIGN_IN_AGAIN))
        if wants_json:
            return JsonResponse({"ok": False, "errors": form.errors.get_json_data()}, status=400)
        return _render(request, "mail/account_form.html", ctx, status=400)
    credential_reuse.forget_sign_in(account, why="server changed by its owner")
    return _save_then_sign_in(request, form, account, False, sign_in, ctx, wants_json)


def _test_words(result, account) -> dict:
    if result.ok:
        return {"ok": True, "line": result.summary(), "summary": "", "next_step": "",
                "admin_only": False}
    why = explain.explain(result.error, account.host)
    return {"ok": False, "line": result.error, "summary": why.summary,
            "next_step": why.next_step, "admin_only": why.who == explain.ADMIN}


@login_required
@require_POST
def toggle_account(request, pk):
    account = own_account(request, pk)
    require_self_service(request.user)
    account.enabled = not account.enabled
    fields = ["enabled"]
    if account.enabled:
        account.next_check = timezone.now()
        fields.append("next_check")
    account.save(update_fields=fields)
    if account.enabled:
        said = _("Account %(account)s enabled: it is checked again.")
    else:
        said = _("Account %(account)s disabled: it is not checked.")
    messages.success(request, said % {"account": account})
    return redirect("mail-accounts")


@login_required
def delete_account(request, pk):
    account = own_account(request, pk)
    require_self_service(request.user)
    if request.method == "POST":
        label = str(account)
        account.delete()
        messages.success(request, _("Account %(account)s deleted. Mail already collected "
                                    "stays in your mailbox.") % {"account": label})
        return redirect("mail-accounts")
    return render(request, "mail/account_delete.html", {"account": account})
