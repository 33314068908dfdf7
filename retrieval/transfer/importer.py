"""Writing a checked import plan: the slow work first, then one short write transaction."""

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction

from accounts.models import Mailbox
from delivery.models import DeliveryTarget
from popadmin.secrets import SecretError

from .grants import write_grant
from .named import prepare_secret
from .planner import KEEP, ImportPlan, changed
from .report import CONFIRM, account_rows, needing_confirmation
from .schema import TransferError

CHANGED_MEANWHILE = "the database changed while the file was imported; run the import again"


def import_data(data, dry_run=False):
    """Validate and import `data`; return {"mailboxes": (created, updated), ...}.

    Raises TransferError listing every problem, having written nothing.
    """
    return import_with_report(data, dry_run, confirmed=True)[0]


def import_with_report(data, dry_run=False, confirmed=False):
    """import_data's counts, and a report.AccountRow per account it creates or changes.

    Unless `confirmed`, an import that would rewrite an account its user set up,
    or make one connect another way, raises TransferError and writes nothing.
    """
    # Checking and hashing run outside any transaction. On SQLite a transaction
    # is a write lock on the whole database (IMMEDIATE mode), and hashing is
    # slow by design: held across both, it locked the web console out for as
    # long as the import ran.
    plan = ImportPlan(data)
    if plan.errors:
        raise TransferError(plan.errors)
    rows = account_rows(plan)
    unconfirmed = needing_confirmation(rows)
    if dry_run:
        return plan.counts(), rows
    if unconfirmed and not confirmed:
        raise TransferError([*unconfirmed, CONFIRM])
    _prepare_secrets(plan)
    try:
        with transaction.atomic():
            # What was checked must still be what is written over: a login
            # made staff meanwhile must not get the file's password.
            stale = _stale_rows(plan)
            if stale:
                raise TransferError(stale)
            _write(plan)
    except (IntegrityError, ObjectDoesNotExist):
        # A record the file creates was created meanwhile, or an owner deleted.
        raise TransferError([CHANGED_MEANWHILE])
    return plan.counts(), rows


def _prepare_secrets(plan):
    """Hash login passwords and encrypt remote ones, touching no database row."""
    for record in [*plan.providers.values(), *plan.targets.values()]:
        prepare_secret(record)
    for entry in plan.mailboxes:
        login = entry.login
        if login is None:
            continue
        if login.pk is None:
            if entry.password is None:
                login.set_unusable_password()
            else:
                login.set_password(entry.password)
        # Rehashing an unchanged password would make every import a write.
        # (The function, not login.check_password(): that one may save.)
        elif entry.password is not None and not check_password(entry.password, login.password):
            login.set_password(entry.password)
    for entry in plan.accounts:
        account, password = entry.account, entry.password
        if password is not None and (entry.created or not _same_password(account, password)):
            if password:
                account.set_password(password)
            else:
                account.password_encrypted = ""


def _same_password(account, password):
    # Fernet tokens differ on every encryption, so compare plaintexts to keep
    # a repeated import from rewriting the column.
    try:
        return account.get_password() == password
    except SecretError:
        return False


def _stale_rows(plan):
    problems = []
    for obj, before in plan.rows():
        rows = type(obj)._default_manager.select_for_update().filter(pk=obj.pk)
        if rows.values(*before).first() != before:
            problems.append(f"{obj._meta.verbose_name} {obj}: {CHANGED_MEANWHILE}")
    return problems


def _write(plan):
    if plan.settings and changed(*plan.settings):
        plan.settings[0].save()
    for record in [*plan.providers.values(), *plan.targets.values()]:
        if changed(record.record, record.before):
            record.record.save()
    for target in plan.targets.values():
        if target.oauth is not None:
            write_grant(target.record, target.oauth, plan.providers)

    def target(name):
        if name is None:
            return None
        return plan.targets[name].record if name in plan.targets else (
            DeliveryTarget.objects.get(name=name))

    saved = {}
    for entry in plan.mailboxes:
        mailbox, login = entry.mailbox, entry.login
        if login is not None and entry.login_before is None:
            login.save()
        elif login is not None and changed(login, entry.login_before):
            login.save(update_fields=["password"])
        if entry.user is not None:
            mailbox.user = entry.user
        if entry.target is not KEEP:
            mailbox.delivery_target = target(entry.target)
        if changed(mailbox, entry.before):
            mailbox.save()
        saved[mailbox.address] = mailbox
        if entry.overrides is not None:
            overrides, before = entry.overrides
            overrides.mailbox = mailbox
            if changed(overrides, before):
                overrides.save()
    for entry in plan.accounts:
        account = entry.account
        account.owner = saved.get(entry.owner) or Mailbox.objects.get(address__iexact=entry.owner)
        if entry.target is not KEEP:
            account.delivery_target = target(entry.target)
        if changed(account, entry.before):
            account.save()
        if entry.oauth is not None:
            write_grant(account, entry.oauth, plan.providers)


def summary(counts):
    return "; ".join(f"{name}: {c} created, {u} updated" for name, (c, u) in counts.items())
