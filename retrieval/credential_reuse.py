"""A stored credential goes only to the server it was entered for.

The password field is write-only ("empty keeps the stored one") and an OAuth2
grant is never shown, so both may be used by people who do not know them: a
user editing a shared mailbox an administrator set up, staff who may change
accounts but not see secrets. Changing where the account connects to (host,
port, protocol, security, or switching certificate checks off) must not send
the stored credential there: the password is typed again, the OAuth2 grant is
signed in again. docs/security/secrets-and-privileges.md states the rule.
"""

from __future__ import annotations

from popadmin import audit
from retrieval.models import RemoteAccount

TYPE_IT_AGAIN = ("The server settings changed: type the password again. A stored password "
                 "is only sent to the server it was entered for.")
SIGN_IN_AGAIN = ("The server settings changed: the OAuth2 sign-in made for the old server is "
                 "not sent to a new one. Save, then sign in at the provider again.")
SIGNED_OUT = ("The server settings changed: the OAuth2 sign-in made for the old server was "
              "disconnected, and is not sent to the new one. Sign in at the provider again.")


def server_of(account) -> tuple:
    """Where the account's credential goes, as a value to compare."""
    host = (account.host or "").strip().lower().rstrip(".")
    port = account.port or RemoteAccount.DEFAULT_PORTS.get((account.protocol, account.security))
    # Certificates checked or not matters only where there is TLS.
    checked = account.verify_tls or account.security == RemoteAccount.Security.NONE
    return account.protocol, account.security, host, port, checked


def server_changed(stored: RemoteAccount, data: dict) -> bool:
    """Whether the form's `data` points a saved account somewhere its credential was not
    entered for. A new account has no stored credential."""
    if stored.pk is None:
        return False
    fields = ("protocol", "security", "host", "port", "verify_tls")
    edited = RemoteAccount(**{f: data.get(f, getattr(stored, f)) for f in fields})
    return server_of(edited) != server_of(stored)


def forget_sign_in(account, why: str) -> None:
    """Revoke and forget the account's OAuth2 grant before the account is saved pointing at
    another server, so no run can send the grant's token there."""
    # Imported here: the admin imports this module, so every process that sets
    # Django up (`fetch` too) would otherwise load the HTTP client behind flows.
    from retrieval.oauth import flows

    if flows.disconnect(account):
        audit.record(account, "oauth disconnect", reason=why)
