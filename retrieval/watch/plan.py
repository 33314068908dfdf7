"""What one idle connection needs from the database, read on the watcher's database thread."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from retrieval.models import GlobalSettings, OAuthGrant, PushWatch, RemoteAccount
from retrieval.models.settings import EffectiveSettings
from retrieval.oauth.tokens import REFRESH_MARGIN
from retrieval.protocols.base import ConnectionParams
from retrieval.sessions import params_for

# An OAuth2 connection signs in again this long before its access token
# expires: inside the tokens' own refresh margin (oauth/tokens.py), so the
# new login refreshes it, and well before a server drops the connection.
TOKEN_MARGIN = REFRESH_MARGIN - dt.timedelta(minutes=1)
# Never sooner than this: a provider issuing tokens shorter than the margin
# would otherwise have the connection sign in (and refresh) again and again.
RELOGIN_FLOOR = 60.0


@dataclass
class Plan:
    params: ConnectionParams
    host: str
    # All of the account's folders; with NOTIFY all are watched on one connection,
    # else the first `connections` have one each (the server's limit may leave
    # no room for the others).
    folders: list[str]
    connections: int
    # Whether the server offers NOTIFY (None: not known yet).
    notify: bool | None
    # Seconds until the connection must sign in again (OAuth2), else None.
    relogin_in: float | None

    @property
    def one_connection(self) -> bool:
        """Watch every folder on one NOTIFY connection (tried while not known to fail)."""
        return len(self.folders) > 1 and self.notify is not False

    @property
    def watched(self) -> list[str]:
        """The folders that get a connection each when NOTIFY is not used."""
        return self.folders[:self.connections]


def plan_for(pk: int) -> Plan:
    """Connection parameters built exactly as a fetch builds them (TLS, reach, OAuth2)."""
    account = RemoteAccount.objects.select_related("owner").get(pk=pk)
    gs = GlobalSettings.load()
    knobs = EffectiveSettings.for_mailbox(
        account.owner, gs, getattr(account.owner, "retrieval_settings", None))
    params = params_for(account, knobs.timeout_seconds, gs)
    relogin = None
    if account.auth_method != "password":
        expires = (OAuthGrant.objects.filter(account=account)
                   .values_list("access_expires", flat=True).first())
        if expires:
            relogin = max(RELOGIN_FLOOR, (expires - TOKEN_MARGIN - timezone.now()).total_seconds())
    folders = account.effective_folders
    connections, notify = (PushWatch.objects.filter(account_id=pk)
                           .values_list("connections", "notify_supported").first()
                           or (len(folders), None))
    return Plan(params, account.host, folders, connections, notify, relogin)


def refresh_token(pk: int) -> None:
    """The server refused the cached access token: refresh it once (SignInExpired if revoked)."""
    from retrieval.oauth.tokens import refresh_after_refusal

    refresh_after_refusal(RemoteAccount.objects.get(pk=pk))


def reidle_seconds() -> float:
    return float(settings.POPADMIN_REIDLE_SECONDS)
