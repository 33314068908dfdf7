"""The Authlib OAuth2 client for one provider: every OAuth request goes through here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrieval.oauth.errors import ProviderUnreachable, SignInExpired

TIMEOUT = 20  # seconds for any request to a provider
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Errors that mean the grant is gone: only a person signing in again helps.
GRANT_GONE = {"invalid_grant", "unauthorized_client", "invalid_client", "access_denied",
              "expired_token"}

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

# Authlib and requests are imported where a request is made: the admin imports
# this module, and every process that sets Django up (`fetch`, the workers) would
# otherwise load them, a fifth of a second, to fetch mail with a password.


def session(provider, redirect_uri: str | None = None) -> OAuth2Session:
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        client_id=provider.client_id,
        client_secret=provider.get_client_secret() or None,
        scope=provider.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        # A public client (no secret, e.g. a Microsoft "mobile and desktop" app)
        # identifies itself with client_id in the body.
        token_endpoint_auth_method=(
            "client_secret_post" if provider.client_secret_encrypted else "none"
        ),
    )


def extra_authorize_params(provider) -> dict:
    # Google hands out a refresh token only for offline access, and a new one
    # (on reconnect) only when asked to show the consent screen again.
    if provider.preset == "google":
        return {"access_type": "offline", "prompt": "consent"}
    return {}


def call(what: str, fn, *args, **kwargs) -> dict:
    """Run one Authlib request; provider refusals and network failures as ProtocolErrors."""
    import requests
    from authlib.common.errors import AuthlibBaseError

    try:
        return fn(*args, timeout=TIMEOUT, **kwargs)
    except AuthlibBaseError as exc:
        error = getattr(exc, "error", "") or ""
        if error in GRANT_GONE:
            raise SignInExpired(f"the provider refused the {what}: {error}") from None
        raise ProviderUnreachable(
            f"the sign-in provider failed the {what}: {error or 'error'}"
        ) from None
    except requests.RequestException as exc:
        raise ProviderUnreachable(
            f"could not reach the sign-in provider for the {what}: {type(exc).__name__}"
        ) from None
    except ValueError:  # not JSON, or not a token
        raise ProviderUnreachable(f"the sign-in provider sent a malformed {what} answer") from None
