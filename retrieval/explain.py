"""Errors in plain words, with what to do next and who can do it.

The run history keeps the exact error (it names the server's own reply); the
pages show this explanation beside it. Matching is on the texts our protocol
clients and delivery produce (retrieval/protocols/, delivery/), so a new
error text there wants a rule here.

The words are translated into the reader's language when `explain` is called
(the rules hold lazy strings); the exact error stays as the server said it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Lazy: the rules below are built at import; each is worded when read (see _fixed).
from django.utils.translation import gettext_lazy as _

# Providers that refuse plain passwords over POP3/IMAP (OAuth2 or an app password).
OAUTH_PROVIDERS = (
    "gmail.com", "googlemail.com", "outlook.office365.com", "office365.com", "outlook.com",
    "hotmail.com", "live.com", "yahoo.com", "icloud.com", "me.com",
)

USER, ADMIN = "you", "an administrator"


@dataclass(frozen=True)
class Explanation:
    summary: str  # what went wrong, in plain words
    next_step: str  # what to do about it
    who: str  # USER or ADMIN: who can do the next step


def explain(error: str, host: str = "", may_reconnect: bool = True) -> Explanation | None:
    """The explanation of an account's last error; None when there is no error.

    `may_reconnect`: whether the reader may change the account and sign it in again
    (staff who may change accounts, an owner with self-service). A step that changes
    the account is, for anyone else, an administrator's: it says so and who to ask.
    """
    if not error:
        return None
    text = error.lower()
    for pattern, build in _RULES:
        if re.search(pattern, text):
            if build is _sign_in and not may_reconnect:
                return _sign_in_by_admin()
            why = build(host.lower())
            if not may_reconnect and why.who == USER and build in _EDITS:
                return _by_admin(why, build)
            return why
    return Explanation(
        str(_("The last check failed.")),
        str(_("Check the server settings with Test connection; if it keeps failing, send the "
              "error below to your administrator.")),
        ADMIN,
    )


# The step for a reader who may not change the account: the pages frame it as
# "Only an administrator can fix this. Ask them:".
CHANGED_LOGIN_BY_ADMIN = _("The password may have changed at the provider: the new one "
                               "(or an app password) must be entered in the account's settings.")


def _by_admin(why: Explanation, build) -> Explanation:
    if build is _login:
        return Explanation(why.summary, str(CHANGED_LOGIN_BY_ADMIN), ADMIN)
    # The same step, as the administrator's: the reader cannot take it.
    return Explanation(why.summary, why.next_step, ADMIN)


def _login(host: str) -> Explanation:
    if host.endswith(OAUTH_PROVIDERS):
        return Explanation(
            str(_("The server refused the login.")),
            _("%(host)s no longer accepts the account password for POP3/IMAP: use an app "
              "password (created in the provider's security settings) or OAuth2 sign-in.")
            % {"host": host},
            USER,
        )
    return Explanation(
        str(_("The server refused the username or password.")),
        str(_("Enter the password again (it may have changed at the provider), then press "
              "Test connection.")),
        USER,
    )


SIGN_IN_EXPIRED = _("The OAuth2 sign-in for this account expired or was revoked.")


def _sign_in_by_admin(host: str = "") -> Explanation:
    return Explanation(
        str(SIGN_IN_EXPIRED),
        str(_("An administrator must reconnect the account's sign-in at the provider; mail "
              "waits on the server until then.")),
        ADMIN,
    )


def _sign_in(host: str) -> Explanation:
    return Explanation(str(SIGN_IN_EXPIRED), str(_("Press Reconnect and sign in at the "
                                                   "provider again; mail waits on the server "
                                                   "until then.")), USER)


def _fixed(summary, next_step, who: str = USER):
    """A rule's explanation from lazy strings, worded in the language active when it is read."""
    return lambda host: Explanation(str(summary), str(next_step), who)


# Builders whose USER step means changing the account (its settings or password);
# filled in below, after the rules.
_EDITS: set = set()


def _edit(build):
    _EDITS.add(build)
    return build


_RULES = [
    # First: the rest of the text quotes a mailbox path, which may contain any word.
    (r"^local disk (full|quota exceeded|read-only)|^local mail root not writable", _fixed(
        _("The disk popadmin stores mail on is full or cannot be written: new mail stays on "
        "the remote server."),
        _("Nothing to do on your side: an administrator must make room on the disk (or fix "
        "it); the mail is collected at the next check after that."), ADMIN)),
    # Then: a refusal quotes the server, whose words may match the rules below.
    (r"not fetched, left on the server|connection was lost on \d+ messages in a row", _fixed(
        _("Some messages could not be fetched whole and stay on the remote server; the rest "
        "of the mail was collected."),
        _("Nothing to do at first: each is tried again at the next checks, three times in all. "
        "After that an administrator can have it tried again; the reason is listed with "
        "the message."), ADMIN)),
    (r"certificate .* is not trusted|certificate verify failed", _fixed(
        _("The server's TLS certificate is not trusted."),
        _("If the server uses an internal or self-signed certificate, an administrator can "
        "add its CA as the extra trusted CA file in the global settings, or (less safe) "
        "turn off \"Verify TLS certificate\" for this account. Otherwise check the host name: the "
        "certificate must name it."),
        ADMIN)),
    (r"does not offer (stls|starttls)|refusing to send the password unencrypted|"
     r"refusing to send the password over an unencrypted", _edit(_fixed(
        _("The server does not offer an encrypted connection on this port."),
        _("Choose Security \"TLS\" with the TLS port (995 for POP3, 993 for IMAP), or ask the "
        "provider for the right settings.")))),
    (r"tls handshake|cannot load the ca file", _edit(_fixed(
        _("An encrypted connection could not be set up."),
        _("Check the port and Security setting: TLS wants the TLS port (995/993), STARTTLS the "
        "plain one (110/143).")))),
    # Before the login rule: an OAuth2 refusal quotes the server's [AUTH...] too.
    (r"sign-in expired|sign-in refused|no oauth2 access token", _sign_in),
    (r"could not reach the sign-in provider|sign-in provider failed", _fixed(
        _("The sign-in provider (Google, Microsoft, ...) did not answer."),
        _("Nothing to do: popadmin tries again at the next check. If it lasts, an "
        "administrator checks the OAuth2 provider's endpoints."), ADMIN)),
    (r"login refused|authentication failed|\[auth", _edit(_login)),
    (r"host not found|dns lookup", _edit(_fixed(
        _("The server name was not found."),
        _("Check the spelling of the server name (for example pop.example.com).")))),
    (r"connection refused", _edit(_fixed(
        _("The server refused the connection on this port."),
        _("Check the port and protocol; the server may also be down, and popadmin will try "
        "again at the next check.")))),
    (r"timed out", _edit(_fixed(
        _("The server did not answer in time."),
        _("The server may be down or blocked by a firewall; popadmin keeps trying. If it "
        "lasts, check the host and port.")))),
    (r"may only reach public|refused to connect to", _fixed(
        _("This server is on an internal network that your account may not reach."),
        _("Ask an administrator to allow this host in the global settings."), ADMIN)),
    (r"mailbox full|over its .* quota|quota", _fixed(
        _("Your local mailbox is full: new mail stays on the remote server."),
        _("Delete or archive some mail, or ask an administrator for a bigger quota."))),
    (r"service stopped|service is stopped", _fixed(
        _("The administrator has paused mail collection."),
        _("Nothing to do: mail is collected again when the service is started."), ADMIN)),
    (r"password .* cannot be decrypted|cannot decrypt|encryption key", _edit(_fixed(
        _("The stored password cannot be read (the encryption key changed)."),
        _("Enter the password again."), USER))),
    (r"line too long|response too (big|long)|over the size limit|limit", _fixed(
        _("The server sent something too large or malformed."),
        _("popadmin left the affected mail on the server; send the error to an administrator."),
        ADMIN)),
    (r"stopped unexpectedly", _fixed(
        _("The check was interrupted (the worker stopped)."),
        _("Nothing to do: undelivered mail is still on the server and the next check takes it."),
        ADMIN)),
]
