"""The connect pages: choose a provider, sign in at it (browser or device code), come back.

Thin: the flows are in flows.py, the grant state in tokens.py. Every view
checks may_connect for the account; the callback checks it again, for the
account its `state` was issued for. The same pages connect an IMAP APPEND
delivery target (kind "target" in the URL): staff who may change targets only.
"""

from urllib.parse import parse_qs, urlencode, urlparse

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from delivery.targets import DeliveryTarget
from popadmin import audit
from retrieval.models import OAuthProvider, RemoteAccount
from retrieval.oauth import flows
from retrieval.oauth.permissions import may_connect, may_connect_target
from retrieval.oauth.tokens import grant_status


def _account(request, pk) -> RemoteAccount:
    account = get_object_or_404(RemoteAccount.objects.select_related("owner"), pk=pk)
    if not may_connect(request.user, account):
        raise Http404("No such account.")  # others' accounts are simply not there
    return account


def _subject(request, kind, pk):
    """The account, or the delivery target, a sign-in page is for (404 for anyone else)."""
    if kind != "target":
        return _account(request, pk)
    target = get_object_or_404(DeliveryTarget, pk=pk)
    if not may_connect_target(request.user):
        raise Http404("No such delivery target.")
    return target


def _url(name: str, subject, *args) -> str:
    prefix = "oauth-target-" if isinstance(subject, DeliveryTarget) else "oauth-"
    return reverse(prefix + name, args=[subject.pk, *args])


def _back(request, account) -> str:
    wanted = request.GET.get("next") or request.POST.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    if isinstance(account, DeliveryTarget):
        return reverse("admin:delivery_deliverytarget_change", args=[account.pk])
    if request.user.is_staff:
        return reverse("admin:retrieval_remoteaccount_change", args=[account.pk])
    return reverse("mail-accounts")


def redirect_uri(request) -> str:
    """The redirect URI to register with the provider (the provider form shows it)."""
    # Must be exactly the redirect URI registered with the provider.
    return settings.POPADMIN_OAUTH_REDIRECT_URL or request.build_absolute_uri(
        reverse("oauth-callback")
    )


@login_required
def connect(request, pk, kind="account"):
    """The provider choice, and (with ?provider=) the start of a browser or device sign-in."""
    account = _subject(request, kind, pk)
    providers = OAuthProvider.objects.all()
    chosen = request.GET.get("provider")
    if not chosen:
        current = getattr(account, "oauth_grant", None)
        return render(request, "oauth/connect.html", {
            "account": account, "providers": providers, "status": grant_status(account),
            "current": current.provider_id if current else None,
            "next": _back(request, account),
            "for_target": isinstance(account, DeliveryTarget),
            "connect_url": _url("connect", account), "disconnect_url": _url("disconnect", account),
        })
    provider = get_object_or_404(OAuthProvider, pk=chosen) if chosen.isdigit() else None
    if provider is None:
        raise Http404("No such provider.")
    try:
        if request.GET.get("flow") == "device":
            device = flows.start_device(request.session, account, provider)
            back = urlencode({"next": _back(request, account)})
            return redirect(_url("device", account, device["key"]) + "?" + back)
        url = flows.start_authorization(
            request.session, account, provider, redirect_uri(request)
        )
    except flows.FlowError as exc:
        messages.error(request, str(exc))
        return redirect(_back(request, account))
    request.session[flows.SESSION_KEY][_state_of(url)]["next"] = _back(request, account)
    request.session.modified = True
    return redirect(url)


def _state_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["state"][0]


@login_required
def callback(request):
    """Where the provider sends the browser back: check `state`, then swap the code."""
    entry = flows.pending(request.session, request.GET.get("state", ""))
    if entry is None:
        return HttpResponseBadRequest(
            "This sign-in was not started here, or it timed out: start it again."
        )
    account = _subject(request, entry.get("kind"), entry["account"])
    back = entry.get("next") or _back(request, account)
    error, code = request.GET.get("error"), request.GET.get("code")
    if error or not code:
        messages.error(request, _("The sign-in was not completed: %(error)s.")
                       % {"error": error or _("no code")})
        return redirect(back)
    try:
        grant = flows.finish_authorization(entry, account, code)
    except flows.FlowError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    audit.record(account, "oauth connect", provider=grant.provider.name, flow="browser")
    messages.success(request, _("Connected %(account)s as %(who)s.")
                     % {"account": account, "who": grant.connected_as})
    return redirect(back)


@login_required
def device(request, pk, key, kind="account"):
    """Shows the code to enter at the provider; each load asks the provider once."""
    account = _subject(request, kind, pk)
    back = _back(request, account)
    shown = flows.device_shown(request.session, key)
    try:
        state = flows.poll_device(request.session, key, account)
    except flows.FlowError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    if state == "done":
        audit.record(account, "oauth connect", provider=account.oauth_grant.provider.name,
                     flow="device")
        messages.success(request, _("Connected %(account)s as %(who)s.")
                         % {"account": account, "who": grant_status(account).connected_as})
        return redirect(back)
    return render(request, "oauth/device.html", {"account": account, "next": back, **shown})


@login_required
@require_POST
def disconnect(request, pk, kind="account"):
    account = _subject(request, kind, pk)
    if flows.disconnect(account):
        audit.record(account, "oauth disconnect")
        messages.success(request, _("Signed out %(account)s: the grant was revoked and "
                                    "forgotten.") % {"account": account})
    return redirect(_back(request, account))
