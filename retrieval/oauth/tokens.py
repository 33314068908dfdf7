"""Grant state: storing tokens, refreshing access tokens before they expire, and the status
the account pages show."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from auditlog.context import disable_auditlog
from django.db import transaction
from django.utils import timezone

from delivery.targets import DeliveryTarget
from retrieval import status
from retrieval.models import OAuthGrant, OAuthProvider
from retrieval.oauth import client
from retrieval.oauth.errors import SignInExpired

# Refresh this long before the access token runs out, so a session that
# starts now does not fail its login half a minute later.
REFRESH_MARGIN = dt.timedelta(minutes=5)


def of(subject) -> dict:
    """The lookup for the grant of a remote account or of a delivery target (issue 13: an
    IMAP APPEND target may sign in with OAuth2 too)."""
    if isinstance(subject, DeliveryTarget):
        return {"target": subject}
    return {"account": subject}


def save_token(account, provider: OAuthProvider, token: dict) -> OAuthGrant:
    """Store a token just obtained by a sign-in (code or device flow) as the grant of the
    account (or delivery target)."""
    now = timezone.now()
    # Saved once, so the audit trail has one entry per sign-in.
    grant = OAuthGrant.objects.filter(**of(account)).first() or OAuthGrant(**of(account))
    grant.provider = provider
    _apply(grant, token, now)
    grant.connected_at = now
    grant.connected_as = _identity(token) or account.username
    grant.refresh_expires = (
        now + dt.timedelta(days=provider.refresh_token_days)
        if provider.refresh_token_days else None
    )
    grant.expired = False
    grant.save()
    if grant.account_id:
        # The failures before were for want of this sign-in: no back-off, check soon.
        status.reset_after_edit(account)
    return grant


def access_token_for(account) -> str:
    """A fresh access token for the account's (or delivery target's) grant, refreshed if it
    is about to expire. Also delivery's token_source (retrieval/apps.py).

    Raises SignInExpired when there is no usable grant, ProviderUnreachable
    when the provider cannot be asked (both ProtocolErrors, so a delivery
    backend fails temporarily on them).
    """
    grant = OAuthGrant.objects.filter(**of(account)).select_related("provider").first()
    if grant is None or grant.expired:
        raise SignInExpired("no sign-in for this account" if grant is None else "")
    now = timezone.now()
    if grant.access_expires and grant.access_expires - REFRESH_MARGIN > now:
        token = grant.access_token()
        if token:
            return token
    return _refresh(grant, now)


def refresh_after_refusal(account) -> str:
    """The mail server refused the cached access token: forget it and refresh now.

    Raises SignInExpired, with the grant marked expired, when the provider refuses
    the refresh (the grant was revoked): a person must reconnect.
    """
    grant = OAuthGrant.objects.filter(**of(account)).select_related("provider").first()
    if grant is None or grant.expired:
        raise SignInExpired("no sign-in for this account" if grant is None else "")
    OAuthGrant.objects.filter(pk=grant.pk).update(access_token_encrypted="", access_expires=None)
    return _refresh(grant, timezone.now())


def _refresh(grant: OAuthGrant, now) -> str:
    refresh = grant.refresh_token()
    if not refresh:
        _mark_expired(grant)
        raise SignInExpired("the provider gave no refresh token")
    session = client.session(grant.provider)
    try:
        token = client.call(
            "refresh token", session.refresh_token, grant.provider.token_endpoint,
            refresh_token=refresh,
        )
    except SignInExpired:
        _mark_expired(grant)
        raise
    # Bookkeeping, hourly per account: kept out of the audit trail (popadmin/audit.py).
    with transaction.atomic(), disable_auditlog():
        _apply(grant, token, now)
        grant.save(update_fields=[
            "refresh_token_encrypted", "access_token_encrypted", "access_expires", "scopes",
        ])
    return token["access_token"]


def _mark_expired(grant: OAuthGrant):
    OAuthGrant.objects.filter(pk=grant.pk).update(expired=True, access_token_encrypted="")


def _apply(grant: OAuthGrant, token: dict, now):
    # Some providers rotate the refresh token on every refresh; keep the newest.
    grant.set_tokens(token.get("refresh_token"), token.get("access_token", ""))
    expires_at = token.get("expires_at")
    grant.access_expires = (
        dt.datetime.fromtimestamp(int(expires_at), tz=dt.UTC) if expires_at
        else now + dt.timedelta(hours=1)
    )
    if token.get("scope"):
        grant.scopes = str(token["scope"])[:1000]
    elif not grant.scopes:
        grant.scopes = grant.provider.scopes


def _identity(token: dict) -> str:
    """Who signed in, from the OpenID Connect ID token that came with the tokens.

    Shown to people only, never used for a decision, so the claims are read
    without verifying the signature: the token came straight from the
    provider's token endpoint over TLS (OpenID Connect Core 3.1.3.7).
    """
    id_token = token.get("id_token")
    if not id_token or id_token.count(".") != 2:
        return ""
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return ""
    if not isinstance(claims, dict):
        return ""
    who = claims.get("email") or claims.get("preferred_username") or claims.get("upn") or ""
    return str(who)[:255]


def has_grant(account) -> bool:
    """A grant that is not known to be expired (an unsaved account has none)."""
    return account.pk is not None and OAuthGrant.objects.filter(
        **of(account), expired=False).exists()


def needs_sign_in(account) -> bool:
    """An OAuth2 account with no usable grant: nothing to test until someone signs in."""
    return account.auth_method != "password" and not has_grant(account)


@dataclass(frozen=True)
class GrantStatus:
    connected: bool
    provider: str = ""
    connected_as: str = ""
    connected_at: dt.datetime | None = None
    scopes: tuple[str, ...] = ()
    access_expires: dt.datetime | None = None
    refresh_expires: dt.datetime | None = None
    expired: bool = False
    warning: str = ""  # a known expiry is near, or sign-in is needed


def grant_status(account) -> GrantStatus:
    """What the account pages show about the account's OAuth2 sign-in (no secret in it)."""
    grant = OAuthGrant.objects.filter(**of(account)).select_related("provider").first()
    if grant is None:
        needs = account.auth_method != "password"
        return GrantStatus(False, warning="not signed in: connect" if needs else "")
    now = timezone.now()
    warning = ""
    if grant.expired:
        warning = "sign-in expired: reconnect"
    elif grant.refresh_expires:
        left = grant.refresh_expires - now
        if left <= dt.timedelta(0):
            warning = "sign-in expired: reconnect"
        elif left <= dt.timedelta(days=grant.provider.warn_days):
            days = max(1, round(left / dt.timedelta(days=1)))
            warning = (
                f"sign-in expires in {days} day{'s' if days != 1 else ''}: reconnect before "
                f"{timezone.localtime(grant.refresh_expires):%Y-%m-%d %H:%M}"
            )
    return GrantStatus(
        connected=not grant.expired,
        provider=grant.provider.name,
        connected_as=grant.connected_as,
        connected_at=grant.connected_at,
        scopes=tuple(grant.scopes.split()),
        access_expires=grant.access_expires,
        refresh_expires=grant.refresh_expires,
        expired=grant.expired or bool(warning.startswith("sign-in expired")),
        warning=warning,
    )


def subject_key(subject) -> dict:
    """How a pending sign-in names what it is for, in the session: an account or a target."""
    kind = "target" if isinstance(subject, DeliveryTarget) else "account"
    return {"account": subject.pk, "kind": kind}


def same_subject(entry: dict, subject) -> bool:
    return entry.get("kind", "account") == subject_key(subject)["kind"] and (
        entry["account"] == subject.pk
    )
