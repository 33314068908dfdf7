"""Making, finding and revoking API tokens.

A token is `pa_` + 8 characters of prefix + `_` + 43 random characters (256 bits).
The database keeps the prefix and the SHA-256 of the whole token: a leaked database
gives no usable token, and a presented token is found by its digest in one indexed
lookup. SHA-256 rather than a slow password hash: the secret is random, not chosen by
a person, so there is nothing to guess.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.utils import timezone

from api.models import ApiToken

PREFIX = "pa_"
# A token's last use is written at most this often: not a database write per request.
LAST_USED_STEP = dt.timedelta(minutes=1)


class TokenRefused(Exception):
    """The presented token is unknown, revoked or expired (the message says which)."""


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(user, name: str, *, writes: bool = False, staff: bool = False,
           expires: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`: the row and the token itself, which is never stored."""
    if staff and not user.is_staff:
        raise ValueError("Only staff members make tokens for the whole installation.")
    prefix = PREFIX + secrets.token_urlsafe(6)[:8]
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken.objects.create(user=user, name=name.strip(), prefix=prefix,
                                  digest=digest_of(token), writes=writes, staff=staff,
                                  expires=expires)
    return row, token


def revoke(row: ApiToken) -> None:
    if row.revoked is None:
        row.revoked = timezone.now()
        row.save(update_fields=["revoked"])


def authenticate(token: str) -> ApiToken:
    """The live token presented, with its user, or TokenRefused saying why not."""
    row = (ApiToken.objects.select_related("user").filter(digest=digest_of(token.strip()))
           .first())
    if row is None:
        raise TokenRefused("Unknown API token.")
    now = timezone.now()
    state = row.state(now)
    if state != "active":
        raise TokenRefused(f"This API token is {state}.")
    if not row.user.is_active:
        raise TokenRefused("The API token's user is inactive.")
    if row.staff and not row.user.is_staff:
        raise TokenRefused("The API token's user is no longer staff.")
    if row.last_used is None or now - row.last_used >= LAST_USED_STEP:
        # Bookkeeping, not a change anyone made: kept out of the audit trail by the
        # registration (api/apps.py), and written without touching other fields.
        ApiToken.objects.filter(pk=row.pk).update(last_used=now)
    return row
