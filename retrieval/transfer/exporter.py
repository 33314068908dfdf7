"""Reading the setup out as a document import_data() accepts."""

from accounts.models import Mailbox
from delivery.recipients import DEFAULT_HEADER_FIELDS
from popadmin.secrets import SecretError
from retrieval.models import GlobalSettings, OAuthGrant, RemoteAccount, UserSettings

from .grants import export_grant
from .named import export_records
from .schema import (
    ACCOUNT_FIELDS,
    MAILBOX_FIELDS,
    RENAMED,
    SETTINGS_FIELDS,
    USER_SETTINGS_FIELDS,
    TransferError,
)


def export_data(with_secrets=False):
    """Everything import_data() needs to recreate the setup, as a plain dict.

    Login passwords are never included (only their hashes exist); remote
    account and delivery target passwords, OAuth2 client secrets and grants
    (refresh tokens) only with `with_secrets`.
    """
    gs = GlobalSettings.objects.filter(pk=1).first() or GlobalSettings(
        header_fields=list(DEFAULT_HEADER_FIELDS)
    )
    unreadable = []
    grants = _grants(with_secrets, unreadable)
    targets = export_records("delivery_targets", with_secrets, unreadable)
    for entry in targets:
        if ("target", entry["name"]) in grants:
            entry["oauth"] = grants["target", entry["name"]]
    data = {
        "settings": {key: getattr(gs, key) for key in SETTINGS_FIELDS},
        "oauth_providers": export_records("oauth_providers", with_secrets, unreadable),
        "delivery_targets": targets,
        "mailboxes": _mailboxes(),
        "accounts": _accounts(with_secrets, grants, unreadable),
    }
    if unreadable:
        raise TransferError(unreadable)
    return data


def _grants(with_secrets, unreadable):
    """{("account", pk) or ("target", name): oauth member}, with the secrets only."""
    if not with_secrets:
        return {}
    grants = {}
    # A grant without a refresh token cannot sign in again: nothing to carry.
    queryset = OAuthGrant.objects.exclude(refresh_token_encrypted="")
    for grant in queryset.select_related("provider", "target"):
        key = ("account", grant.account_id) if grant.account_id else ("target", grant.target.name)
        try:
            grants[key] = export_grant(grant)
        except SecretError as e:
            unreadable.append(f"the OAuth2 grant of {grant.subject}: {e}")
    return grants


def _mailboxes():
    overrides = {row.mailbox_id: row for row in UserSettings.objects.all()}
    mailboxes = []
    queryset = Mailbox.objects.select_related("user", "delivery_target").order_by("address")
    for mailbox in queryset:
        entry = {"address": mailbox.address}
        if mailbox.user:
            entry["username"] = mailbox.user.get_username()
        for key in MAILBOX_FIELDS:
            if key in ("aliases", "quota_mb", "postmaster"):
                entry[key] = getattr(mailbox, RENAMED.get(key, key))
            elif key == "language" and mailbox.language:
                entry[key] = mailbox.language
        entry["delivery_target"] = _name(mailbox.delivery_target)
        if mailbox.pk in overrides:
            row = overrides[mailbox.pk]
            entry["settings"] = {key: getattr(row, key) for key in USER_SETTINGS_FIELDS}
        mailboxes.append(entry)
    return mailboxes


def _accounts(with_secrets, grants, unreadable):
    accounts = []
    queryset = RemoteAccount.objects.select_related("owner", "delivery_target")
    for i, account in enumerate(queryset.order_by("owner__address", "host", "username")):
        entry = {}
        for key in ACCOUNT_FIELDS:
            if key == "owner":
                entry[key] = account.owner.address
            elif key == "password":
                if with_secrets:
                    try:
                        entry[key] = account.get_password()
                    except SecretError as e:
                        unreadable.append(f"accounts[{i}] ({account}): {e}")
            elif key == "oauth":
                if ("account", account.pk) in grants:
                    entry[key] = grants["account", account.pk]
            elif key == "delivery_target":
                entry[key] = _name(account.delivery_target)
            else:
                entry[key] = getattr(account, RENAMED.get(key, key))
        accounts.append(entry)
    return accounts


def _name(target):
    return target.name if target is not None else None
