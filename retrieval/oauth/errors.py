"""Why an OAuth2 sign-in could not be used for a run."""

from popadmin.net.errors import ConnectError
from retrieval.protocols.base import AuthError

SIGN_IN_EXPIRED = "sign-in expired: reconnect"


class SignInExpired(AuthError):
    """The provider refused the grant (revoked, expired, or never connected): a person must
    reconnect. An AuthError, so the run fails with the usual back-off and nothing is fetched."""

    def __init__(self, detail: str = ""):
        super().__init__(f"{SIGN_IN_EXPIRED} ({detail})" if detail else SIGN_IN_EXPIRED)


class ProviderUnreachable(ConnectError):
    """The provider's token endpoint did not answer; retried like an unreachable mail server."""
