"""The `oauth` member of an account or a delivery target: its OAuth2 grant in a file.

A grant is a refresh token the provider issued. It leaves the database only
with the secrets (export_accounts --with-secrets) and comes back usable: the
token is stored encrypted as a sign-in in the browser stores it, and the first
session gets a fresh access token with it. The same member lets an operator
create an OAuth2 account from a refresh token obtained elsewhere.
"""

import datetime as dt

from django.utils import timezone

from popadmin.secrets import SecretError
from retrieval.models import OAuthGrant, OAuthProvider
from retrieval.oauth.tokens import of

from .schema import key_name

OAUTH_METHODS = ("xoauth2", "oauthbearer")


def check_grant(where, subject, oauth, providers, errors):
    """Problems of an `oauth` member for `subject` (an account or a target, values applied)."""
    if subject.auth_method not in OAUTH_METHODS:
        errors.append(f"{where}.oauth: only for an OAuth2 sign-in "
                      f"(auth_method {' or '.join(OAUTH_METHODS)})")
    name = oauth["provider"]
    if name not in providers and not OAuthProvider.objects.filter(name=name).exists():
        errors.append(f"{where}.oauth.provider: no OAuth2 provider {key_name(name)} in the "
                      "file or the database")


def write_grant(subject, oauth, providers):
    """Store the member as the grant of the saved `subject`; an identical grant stays as is."""
    lookup = of(subject)
    name = oauth["provider"]
    provider = providers[name].record if name in providers else OAuthProvider.objects.get(
        name=name)
    grant = OAuthGrant.objects.filter(**lookup).first()
    if grant is not None and same_grant(grant, provider, oauth):
        return
    grant = grant or OAuthGrant(**lookup)
    connected_at = oauth.get("connected_at") or timezone.now()
    grant.provider = provider
    grant.set_tokens(oauth["refresh_token"], "")
    # No access token yet: the first session asks the provider for one.
    grant.access_expires = None
    grant.scopes = oauth.get("scopes", provider.scopes)
    grant.connected_as = oauth.get("connected_as", subject.username)
    grant.connected_at = connected_at
    if "refresh_expires" in oauth:
        grant.refresh_expires = oauth["refresh_expires"]
    else:
        days = provider.refresh_token_days
        grant.refresh_expires = connected_at + dt.timedelta(days=days) if days else None
    grant.expired = oauth.get("expired", False)
    grant.save()


def same_grant(grant, provider, oauth):
    try:
        if grant.refresh_token() != oauth["refresh_token"]:
            return False
    except SecretError:
        return False
    return grant.provider_id == provider.pk and all(
        getattr(grant, k) == v for k, v in oauth.items() if k not in ("provider", "refresh_token"))


def export_grant(grant):
    """The grant as an `oauth` member. The access token stays out: it lives an hour."""
    def when(value):
        return value.isoformat() if value else None

    return {
        "provider": grant.provider.name,
        "refresh_token": grant.refresh_token(),
        "scopes": grant.scopes,
        "connected_as": grant.connected_as,
        "connected_at": when(grant.connected_at),
        "refresh_expires": when(grant.refresh_expires),
        "expired": grant.expired,
    }
