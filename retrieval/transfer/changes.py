"""What an import does to an account it updates, in words a person can check first.

Each changed field is listed as `field: old → new` under its key in the import
format; a secret only as `password: changed`. Two kinds of rewrite need a
person's confirmation before they are written (docs/reference/import-format.md): an account
its user set up on their own pages, and an account that would connect another
way (another protocol or port). An import matches an account by owner, server
and login, because the same login on the same server is one remote mailbox
whichever protocol reads it; a second account for it would take the same mail
twice, so the protocol and port are changes to show, not a new account.
"""

import json
from dataclasses import dataclass, field

from popadmin.secrets import SecretError
from retrieval.models import OAuthGrant, RemoteAccount

from .grants import same_grant
from .planner import KEEP
from .schema import ACCOUNT_FIELDS, RENAMED

ARROW = "→"
# Keys whose change is shown without its value.
SECRETS = ("password", "oauth")
# The match itself, and what an import never writes onto an account.
_NOT_LISTED = ("owner", "password", "oauth", "delivery_target")


@dataclass(frozen=True)
class Change:
    key: str
    old: str = ""
    new: str = ""

    @property
    def secret(self):
        return self.key in SECRETS

    def __str__(self):
        if self.secret:
            return f"{self.key}: changed"
        return f"{self.key}: {self.old} {ARROW} {self.new}"


@dataclass
class AccountChanges:
    """An entry's effect on its account: the changed fields and what needs confirming."""

    created: bool
    changes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # each needs a confirmation
    disabled: bool = False  # created disabled, or disabled by this import

    @property
    def action(self):
        return "create" if self.created else ("update" if self.changes else "unchanged")


def of_entry(entry):
    """AccountChanges of a planner AccountPlan (its account has the file's values applied)."""
    account, before = entry.account, entry.before
    if entry.created:
        return AccountChanges(True, disabled=not account.enabled)
    changes = []
    for key in ACCOUNT_FIELDS:
        if key in _NOT_LISTED:
            continue
        attname = RENAMED.get(key, key)
        old, new = before.get(attname), getattr(account, attname)
        if old != new:
            changes.append(Change(key, _words(key, old, before), _words(key, new, account)))
    if _password_changes(entry):
        changes.append(Change("password"))
    if entry.oauth is not None and not _same_grant(account, entry.oauth):
        changes.append(Change("oauth"))
    target = _target_change(entry)
    if target:
        changes.append(target)
    result = AccountChanges(False, changes)
    if changes:
        result.warnings = _warnings(account, before)
        result.disabled = before.get("enabled") and not account.enabled
    return result


def _warnings(account, before):
    out = []
    if before.get("created_by_user"):
        login = account.owner.user.get_username() if account.owner.user_id else ""
        who = f"the user {login}" if login else "its user"
        out.append(f"set up by {who} on their own pages; this import rewrites it")
    old_way = (before["protocol"], _port(before["port"], before))
    new_way = (account.protocol, account.effective_port)
    if old_way != new_way:
        out.append(
            f"connects another way: {_way(*old_way)} {ARROW} {_way(*new_way)} (same server "
            "and login: one remote mailbox, so the account is rewritten, not added)"
        )
    return out


def _way(protocol, port):
    return f"{RemoteAccount.Protocol(protocol).label} on port {port}"


def _port(port, values):
    get = values.get if isinstance(values, dict) else lambda k: getattr(values, k)
    return port or RemoteAccount.DEFAULT_PORTS.get((get("protocol"), get("security")), "?")


def _words(key, value, values):
    """A value as the preview shows it; `values` (dict or account) for the default port."""
    if key == "port" and value is None:
        return f"default ({_port(None, values)})"
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False) if value else "none"
    if value == "":
        return "empty"
    return str(value)


def _password_changes(entry):
    if entry.password is None:
        return False
    # Fernet tokens differ on every encryption: compare what they decrypt to.
    try:
        return entry.account.get_password() != entry.password
    except SecretError:  # an unreadable stored password is replaced
        return True


def _same_grant(account, oauth):
    grant = OAuthGrant.objects.filter(account=account).select_related("provider").first()
    return grant is not None and grant.provider.name == oauth["provider"] and same_grant(
        grant, grant.provider, oauth)


def _target_change(entry):
    if entry.target is KEEP:
        return None
    old = entry.account.delivery_target
    old_name = old.name if old is not None else None
    if old_name == entry.target:
        return None
    return Change("delivery_target", old_name or "none", entry.target or "none")


def lines(result):
    """The indented lines under an entry's row in a command's report."""
    out = [f"    {c}" for c in result.changes]
    out.extend(f"    warning: {w}" for w in result.warnings)
    return out
