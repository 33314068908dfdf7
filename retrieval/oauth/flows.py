"""Connecting an account: the authorization-code flow with PKCE, and the device-code flow.

Pending sign-ins live in the person's Django session, keyed by the random
`state`, so a callback only completes a sign-in that this same browser
session started, for the account it started it for.
"""

from __future__ import annotations

import secrets
import time

from retrieval.models import OAuthGrant, OAuthProvider
from retrieval.oauth import client, tokens
from retrieval.oauth.errors import ProviderUnreachable, SignInExpired

SESSION_KEY = "oauth_pending"
PENDING_SECONDS = 15 * 60  # a sign-in not finished by then must be started again
MAX_PENDING = 5


class FlowError(Exception):
    """A sign-in could not be completed; the message is for the person."""


def start_authorization(session, account, provider: OAuthProvider, redirect_uri: str) -> str:
    """The provider's sign-in URL for the account; remembers state and PKCE verifier."""
    if not provider.authorization_endpoint or not provider.token_endpoint:
        raise FlowError(f"{provider} has no authorization or token endpoint configured.")
    from authlib.common.security import generate_token  # loaded on use (see client.py)

    verifier = generate_token(64)
    oauth = client.session(provider, redirect_uri)
    url, state = oauth.create_authorization_url(
        provider.authorization_endpoint,
        state=secrets.token_urlsafe(32),
        code_verifier=verifier,
        login_hint=account.username,
        **client.extra_authorize_params(provider),
    )
    _remember(session, state, {
        **tokens.subject_key(account), "provider": provider.pk, "verifier": verifier,
        "redirect_uri": redirect_uri,
    })
    return url


def pending(session, state: str) -> dict | None:
    """The sign-in this browser started with `state`, taken out so it completes only once."""
    flows = dict(session.get(SESSION_KEY, {}))
    entry = flows.pop(state, None) if isinstance(state, str) else None
    session[SESSION_KEY] = flows
    if entry is None or entry["started"] + PENDING_SECONDS < time.time():
        return None
    return entry


def finish_authorization(entry: dict, account, code: str):
    provider = OAuthProvider.objects.get(pk=entry["provider"])
    oauth = client.session(provider, entry["redirect_uri"])
    token = _token_call(
        "authorization code", oauth.fetch_token, provider.token_endpoint,
        grant_type="authorization_code", code=code, code_verifier=entry["verifier"],
    )
    return tokens.save_token(account, provider, token)


def start_device(session, account, provider: OAuthProvider) -> dict:
    """Ask the provider for a device code; returns what to show and a key for polling."""
    if not provider.device_endpoint:
        raise FlowError(f"{provider} has no device authorization endpoint configured.")
    oauth = client.session(provider)
    data = {"client_id": provider.client_id, "scope": provider.scopes}
    response = _token_call("device code", _post_json, oauth, provider.device_endpoint, data)
    if not response.get("device_code") or not response.get("user_code"):
        raise FlowError("The provider's device authorization answer has no code.")
    key = secrets.token_urlsafe(16)
    shown = {
        "user_code": str(response["user_code"])[:100],
        # Google says verification_url, RFC 8628 verification_uri.
        "verification_uri": str(
            response.get("verification_uri") or response.get("verification_url") or ""
        )[:500],
        "interval": min(max(_int(response.get("interval"), 5), 1), 60),
    }
    _remember(session, key, {
        **tokens.subject_key(account), "provider": provider.pk,
        "device_code": response["device_code"], **shown,
    })
    return {"key": key, **shown}


def device_shown(session, key: str) -> dict:
    """What the device page shows: kept in the session, never taken from the URL."""
    entry = session.get(SESSION_KEY, {}).get(key) or {}
    shown = {k: entry.get(k, "") for k in ("user_code", "verification_uri", "interval")}
    if not str(shown["verification_uri"]).startswith(("https://", "http://")):
        shown["verification_uri"] = ""  # never a javascript: or data: link
    shown["interval"] = shown["interval"] or 5
    return shown


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def poll_device(session, key: str, account) -> str:
    """One token request for a pending device sign-in: "done", "pending" or raises FlowError."""
    flows = session.get(SESSION_KEY, {})
    entry = flows.get(key)
    if entry is None or not tokens.same_subject(entry, account) or (
        entry["started"] + PENDING_SECONDS < time.time()
    ):
        raise FlowError("This sign-in is no longer pending: start again.")
    provider = OAuthProvider.objects.get(pk=entry["provider"])
    import requests  # loaded on use (see client.py)
    from authlib.common.errors import AuthlibBaseError

    oauth = client.session(provider)
    try:
        token = oauth.fetch_token(
            provider.token_endpoint, grant_type=client.DEVICE_GRANT,
            device_code=entry["device_code"], timeout=client.TIMEOUT,
        )
    except requests.RequestException:
        return "pending"  # the provider did not answer this time; the page polls again
    except AuthlibBaseError as exc:
        error = getattr(exc, "error", "") or ""
        if error in ("authorization_pending", "slow_down"):
            return "pending"
        pending(session, key)
        raise FlowError(f"The sign-in did not complete: {error or 'the provider failed'}.")
    pending(session, key)
    tokens.save_token(account, provider, token)
    return "done"


def disconnect(account) -> bool:
    """Revoke the grant at the provider (when it can) and forget it here."""
    grant = OAuthGrant.objects.filter(**tokens.of(account)).select_related("provider").first()
    if grant is None:
        return False
    provider = grant.provider
    if provider.revocation_endpoint and grant.refresh_token_encrypted:
        oauth = client.session(provider)
        try:
            client.call(
                "revocation", oauth.revoke_token, provider.revocation_endpoint,
                token=grant.refresh_token(), token_type_hint="refresh_token",  # noqa: S106
            )
        except (SignInExpired, ProviderUnreachable):
            pass  # forgotten here all the same; the person can revoke it at the provider
    grant.delete()
    return True


def _token_call(what, fn, *args, **kwargs) -> dict:
    try:
        return client.call(what, fn, *args, **kwargs)
    except (SignInExpired, ProviderUnreachable) as exc:
        raise FlowError(f"The sign-in did not complete: {exc}") from None


def _post_json(oauth, url: str, data: dict, timeout: float) -> dict:
    # The device authorization request (RFC 8628 section 3.1): a plain form
    # POST; Authlib has no client helper for it, the token polling is Authlib's.
    response = oauth.post(url, data=data, timeout=timeout, withhold_token=True)
    body = response.json()
    if response.status_code >= 400 or not isinstance(body, dict):
        raise FlowError(f"The provider refused the device sign-in: {body.get('error', '')}"
                        if isinstance(body, dict) else "The provider refused the device sign-in.")
    return body


def _remember(session, key: str, entry: dict):
    now = time.time()
    flows = {
        k: v for k, v in session.get(SESSION_KEY, {}).items()
        if v.get("started", 0) + PENDING_SECONDS >= now
    }
    # A few at most: each sign-in started but never finished stays until it times out.
    while len(flows) >= MAX_PENDING:
        flows.pop(next(iter(flows)))
    flows[key] = {**entry, "started": now}
    session[SESSION_KEY] = flows
    session.modified = True
