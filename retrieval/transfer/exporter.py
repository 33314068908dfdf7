"""Reading the setup out as a document import_data() accepts."""

from accounts.models import Mailbox
from delivery.recipients import DEFAULT_HEADER_FIELDS
from popadmin.secrets import SecretError
from retrieval.models import GlobalSettings, RemoteAccount

from .schema import ACCOUNT_FIELDS, RENAMED, SETTINGS_FIELDS, TransferError


def export_data(with_secrets=False):
    """Everything import_data() needs to recreate the setup, as a plain dict.

    Login passwords are never included (only their hashes exist); remote
    account passwords only with `with_secrets`.
    """
    gs = GlobalSettings.objects.filter(pk=1).first() or GlobalSettings(
        header_fields=list(DEFAULT_HEADER_FIELDS)
    )
    mailboxes = []
    for mailbox in Mailbox.objects.select_related("user").order_by("address"):
        entry = {"address": mailbox.address}
        if mailbox.user:
            entry["username"] = mailbox.user.get_username()
        entry.update(
            aliases=list(mailbox.aliases),
            quota_mb=mailbox.quota_mb,
            postmaster=mailbox.is_postmaster,
        )
        mailboxes.append(entry)

    accounts, unreadable = [], []
    queryset = RemoteAccount.objects.select_related("owner")
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
            else:
                entry[key] = getattr(account, RENAMED.get(key, key))
        accounts.append(entry)
    if unreadable:
        raise TransferError(unreadable)
    return {
        "settings": {key: getattr(gs, key) for key in SETTINGS_FIELDS},
        "mailboxes": mailboxes,
        "accounts": accounts,
    }
