"""Build the right MailSession for an account, without the engine knowing which."""

from popadmin.net.errors import ProtocolError
from retrieval.models import GlobalSettings
from retrieval.network_reach import reach_for
from retrieval.protocols.base import ConnectionParams, MailSession, SignInRefused


def params_for(account, timeout: float, global_settings=None) -> ConnectionParams:
    gs = global_settings or GlobalSettings.load()
    oauth = account.auth_method != "password"
    if oauth:
        from retrieval.oauth.tokens import access_token_for

        # Refreshed here, at session start, when it is about to expire.
        bearer = access_token_for(account)
    return ConnectionParams(
        host=account.host,
        port=account.effective_port,
        security=account.security,
        username=account.username,
        password="" if oauth else account.get_password(),
        sasl=account.auth_method,
        bearer=bearer if oauth else "",
        verify_tls=account.verify_tls,
        timeout=float(timeout),
        # The global settings' CA file, else the environment's.
        ca_file=gs.effective_ca_file(),
        folders=tuple(account.effective_folders),
        # Checked at every connect, not only at save: DNS and the allow-list change.
        reach=reach_for(account, gs),
    )


def session_for(account, timeout: float, global_settings=None) -> MailSession:
    # `global_settings`: the session's own reading (engine), else read now.
    params = params_for(account, timeout, global_settings)
    if account.protocol == "pop3":
        from retrieval.protocols.pop3 import POP3Session

        return POP3Session(params)
    if account.protocol == "imap":
        from retrieval.protocols.imap import IMAPSession

        return IMAPSession(params)
    raise ProtocolError(f"unknown protocol {account.protocol!r}")


def connected_session(account, timeout: float, global_settings=None) -> MailSession:
    """A session logged in to the account's server; closed again if anything fails.

    A cached OAuth2 access token outlives a grant revoked at the provider (tokens
    live an hour): when the server refuses it, the token is dropped and refreshed
    once, and the login tried once more. A refused refresh expires the grant at
    once (SignInExpired), so the account shows "sign-in expired" and alerts.
    """
    try:
        return _logged_in(session_for(account, timeout, global_settings))
    except SignInRefused:
        if account.auth_method == "password":
            raise
    from retrieval.oauth.tokens import refresh_after_refusal

    refresh_after_refusal(account)
    return _logged_in(session_for(account, timeout, global_settings))


def _logged_in(session: MailSession) -> MailSession:
    try:
        session.connect()
    except BaseException:
        session.close()
        raise
    return session
