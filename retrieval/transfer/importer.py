"""Writing a checked import plan to the database."""

from django.db import transaction

from accounts.models import Mailbox
from retrieval import crypto

from .planner import ImportPlan, changed
from .schema import TransferError


def import_data(data, dry_run=False):
    """Validate and import `data`; return {"mailboxes": (created, updated), ...}.

    Raises TransferError listing every problem, having written nothing.
    """
    # Checking inside the transaction means the rows we checked against are
    # the rows we write over.
    with transaction.atomic():
        plan = ImportPlan(data)
        if plan.errors:
            raise TransferError(plan.errors)
        counts = apply(plan)
        if dry_run:
            transaction.set_rollback(True)
    return counts


def apply(plan):
    """Write a checked plan; return {"mailboxes": (created, updated), ...}."""
    counts = {"mailboxes": [0, 0], "accounts": [0, 0]}
    if plan.settings and changed(*plan.settings):
        plan.settings[0].save()
    saved = {}
    for entry in plan.mailboxes:
        mailbox = entry.mailbox
        login = entry.user or (mailbox.user if mailbox.pk else None)
        if login is not None and login.pk is None:
            if entry.password is None:
                login.set_unusable_password()
            else:
                login.set_password(entry.password)
            login.save()
        elif login is not None and entry.password is not None:
            # Rehashing an unchanged password would make every import a write.
            if not login.check_password(entry.password):
                login.set_password(entry.password)
                login.save(update_fields=["password"])
        if entry.user is not None:
            mailbox.user = entry.user
        if changed(mailbox, entry.before):
            mailbox.save()
        saved[mailbox.address] = mailbox
        counts["mailboxes"][0 if entry.created else 1] += 1
    for entry in plan.accounts:
        account = entry.account
        account.owner = saved.get(entry.owner) or Mailbox.objects.get(address__iexact=entry.owner)
        if entry.password is not None and (
            entry.created or not _same_password(account, entry.password)
        ):
            if entry.password:
                account.set_password(entry.password)
            else:
                account.password_encrypted = ""
        if changed(account, entry.before):
            account.save()
        counts["accounts"][0 if entry.created else 1] += 1
    return {name: tuple(pair) for name, pair in counts.items()}


def _same_password(account, password):
    # Fernet tokens differ on every encryption, so compare plaintexts to keep
    # a repeated import from rewriting the column.
    try:
        return account.get_password() == password
    except crypto.SecretError:
        return False


def summary(counts):
    return "; ".join(f"{name}: {c} created, {u} updated" for name, (c, u) in counts.items())
