"""The audit trail: who changed what, when, and from where (django-auditlog).

Every save and delete of the models below is recorded with the signed-in
user and the client address (popadmin.middleware.AuditMiddleware); changes
made outside a request (imports, the workers) are recorded without an actor.
Actions that change no row, such as Check now, are recorded by `record`.
Secrets are recorded as changed, never with their value.
"""

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.apps import apps
from django.contrib.auth import get_user_model

HIDDEN = "(hidden)"

# Bookkeeping the workers and the dispatcher write on every run: not an
# operator's change, and it would bury the ones that are.
ACCOUNT_STATUS_FIELDS = [
    "last_check", "last_status", "last_error", "next_check", "consecutive_failures",
    "failing_since", "lease_token", "lease_expires", "pending_trigger",
]


def hide(value: str) -> str:
    """Mask of a secret field: whether it is set, nothing of its value."""
    return HIDDEN if value not in ("", "None") else ""


def register_models():
    secret = {"mask_callable": "popadmin.audit.hide"}
    model = apps.get_model
    auditlog.register(get_user_model(), exclude_fields=["last_login"], mask_fields=["password"],
                      m2m_fields={"groups", "user_permissions"}, **secret)
    auditlog.register(model("auth", "Group"), m2m_fields={"permissions"})
    auditlog.register(model("accounts", "GroupPolicy"))
    auditlog.register(model("accounts", "Mailbox"))
    auditlog.register(model("retrieval", "RemoteAccount"), exclude_fields=ACCOUNT_STATUS_FIELDS,
                      mask_fields=["password_encrypted"],
                      mapping_fields={"password_encrypted": "password"}, **secret)
    auditlog.register(model("retrieval", "GlobalSettings"), exclude_fields=["dispatch_backlog"])
    auditlog.register(model("retrieval", "UserSettings"))
    auditlog.register(model("delivery", "DeliveryTarget"), mask_fields=["password_encrypted"],
                      mapping_fields={"password_encrypted": "password"}, **secret)
    auditlog.register(model("retrieval", "OAuthProvider"),
                      mask_fields=["client_secret_encrypted"],
                      mapping_fields={"client_secret_encrypted": "client secret"}, **secret)
    # A sign-in (connect, reconnect) is recorded; the workers' token refreshes are
    # not (retrieval/oauth/tokens.py saves them with the audit log off).
    auditlog.register(model("retrieval", "OAuthGrant"),
                      mask_fields=["refresh_token_encrypted", "access_token_encrypted"],
                      mapping_fields={"refresh_token_encrypted": "refresh token",
                                      "access_token_encrypted": "access token"}, **secret)


def record(instance, event: str, **details) -> LogEntry:
    """An action on `instance` that is not an edit of it (e.g. "check now"). The actor and
    address come from the request being served, as for edits."""
    return LogEntry.objects.log_create(
        instance, force_log=True, action=LogEntry.Action.ACCESS, changes={},
        changes_text=event, additional_data={"event": event, **details},
    )


def record_check_now(accounts, queued: list[int], via: str):
    """One entry per account a person asked to check, saying whether a run was queued (it is
    not when the account is disabled, busy or was checked a moment ago)."""
    for account in accounts:
        record(account, "check now", via=via, queued=account.pk in queued)
