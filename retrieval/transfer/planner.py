"""Checking an import document against the rules and the database, writing nothing."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from accounts.models import Mailbox
from delivery.models import DeliveryTarget
from delivery.recipients import DEFAULT_HEADER_FIELDS
from retrieval.models import GlobalSettings, RemoteAccount, UserSettings

from .grants import OAUTH_METHODS, check_grant
from .named import plan_records, snapshot
from .schema import (
    ACCOUNT_FIELDS,
    MAILBOX_FIELDS,
    RENAMED,
    SECTIONS,
    SETTINGS_FIELDS,
    check_fields,
    key_name,
    model_errors,
)

# An entry without a "delivery_target" key leaves the stored link alone.
KEEP = object()
# Account keys the planner resolves itself rather than copying onto the record.
_ACCOUNT_LINKS = ("owner", "password", "delivery_target", "oauth")


def changed(obj, before):
    return obj.pk is None or snapshot(obj) != before


def _is_admin(user):
    return user is not None and (user.is_staff or user.is_superuser)


@dataclass
class MailboxPlan:
    mailbox: Mailbox
    created: bool
    before: dict
    user: object  # the login to link, or None to leave the link alone
    password: str | None
    login: object = None  # the login the entry creates or changes: `user` or the linked one
    login_before: dict | None = None
    target: object = KEEP  # a delivery target name, None (no target of its own), or KEEP
    overrides: tuple | None = None  # (UserSettings, its state when checked)


@dataclass
class AccountPlan:
    account: RemoteAccount
    created: bool
    before: dict
    owner: str
    password: str | None
    target: object = KEEP
    oauth: dict | None = None


class ImportPlan:
    """Every entry of a document checked against the rules and the database, ready to write.

    Building it writes nothing; `errors` lists every problem with its position.
    """

    def __init__(self, data):
        self.errors = []
        self.settings = None
        self.mailboxes = []
        self.accounts = []
        self.addresses = {}  # mailbox address in the file -> its index
        self.providers, self.targets = {}, {}  # name -> named.RecordPlan
        if not isinstance(data, dict):
            self.errors.append("top level: must be an object with " + ", ".join(SECTIONS))
            return
        self.errors.extend(f"{key_name(k)}: unknown key" for k in data if k not in SECTIONS)
        if "settings" in data:
            self._plan_settings(data["settings"])
        items = self._section(data, "oauth_providers")
        self.providers = plan_records("oauth_providers", items, self.errors)
        items = self._section(data, "delivery_targets")
        self.targets = plan_records("delivery_targets", items, self.errors)
        for target in self.targets.values():
            if target.oauth is not None:
                check_grant(target.where, target.record, target.oauth, self.providers,
                            self.errors)
        self._plan_mailboxes(self._section(data, "mailboxes"))
        self._plan_accounts(self._section(data, "accounts"))

    def counts(self):
        """{"mailboxes": (created, updated), "accounts": (created, updated)}, and the
        providers and targets when the file has any."""
        sections = [("mailboxes", self.mailboxes), ("accounts", self.accounts)]
        named = [("delivery targets", self.targets), ("OAuth2 providers", self.providers)]
        sections[:0] = [(name, list(plans.values())) for name, plans in named if plans]
        return {
            name: (sum(e.created for e in entries), sum(not e.created for e in entries))
            for name, entries in sections
        }

    def rows(self):
        """(stored record, its state when checked) for every stored record the plan writes."""
        if self.settings and not self.settings[0]._state.adding:
            yield self.settings
        for plan in [*self.providers.values(), *self.targets.values()]:
            if not plan.created:
                yield plan.record, plan.before
        for entry in self.mailboxes:
            if not entry.created:
                yield entry.mailbox, entry.before
            if entry.login_before is not None:
                yield entry.login, entry.login_before
            if entry.overrides and entry.overrides[0].pk is not None:
                yield entry.overrides
        for entry in self.accounts:
            if not entry.created:
                yield entry.account, entry.before

    def _target(self, where, values):
        """The entry's delivery target name (None: none of its own), or KEEP when not given."""
        if "delivery_target" not in values:
            return KEEP
        name = values["delivery_target"]
        if name is not None and name not in self.targets and not (
            DeliveryTarget.objects.filter(name=name).exists()
        ):
            self.errors.append(
                f"{where}.delivery_target: no delivery target {key_name(name)} in the file or "
                "the database"
            )
        return name

    def _overrides(self, mailbox, values, where):
        """The mailbox's own settings (UserSettings) the entry writes, or None."""
        if "settings" not in values:
            return None
        row = UserSettings.objects.filter(mailbox=mailbox).first() if mailbox.pk else None
        row = row or UserSettings()
        before = snapshot(row)
        for key, value in values["settings"].items():
            setattr(row, key, value)
        model_errors(row, f"{where}.settings", self.errors, skip=set(), exclude=["mailbox"])
        return row, before

    def _section(self, data, name):
        items = data.get(name, [])
        if not isinstance(items, list):
            self.errors.append(f"{name}: must be a list")
            return []
        return items

    def _plan_settings(self, raw):
        values = check_fields(raw, SETTINGS_FIELDS, "settings", self.errors)
        if values is None:
            return
        # Not GlobalSettings.load(): checking must not write anything.
        gs = GlobalSettings.objects.filter(pk=1).first() or GlobalSettings(pk=1)
        before = snapshot(gs)
        for key, value in values.items():
            setattr(gs, key, value)
        # save() would turn an empty list into the defaults anyway; doing it
        # now keeps a second import of the same file a no-op.
        gs.header_fields = gs.header_fields or list(DEFAULT_HEADER_FIELDS)
        model_errors(gs, "settings", self.errors, skip=set(raw) - set(values))
        self.settings = (gs, before)

    def _plan_mailboxes(self, items):
        usernames = {}
        for i, raw in enumerate(items):
            where = f"mailboxes[{i}]"
            values = check_fields(
                raw, MAILBOX_FIELDS, where, self.errors, absent_if_null=("username", "password")
            )
            if values is None:
                continue
            address, mailbox = values.get("address"), None
            if "address" not in raw:
                self.errors.append(f"{where}.address: required")
            elif address in self.addresses:
                self.errors.append(
                    f"{where}.address: duplicate of mailboxes[{self.addresses[address]}]"
                )
                address = None
            elif address is not None:
                self.addresses[address] = i
                mailbox = Mailbox.objects.select_related("user").filter(address__iexact=address)
                mailbox = mailbox.first()
            # A bad entry is still checked to the end, so every error shows at once.
            created = mailbox is None
            mailbox = mailbox or Mailbox(address=address or "")
            before = snapshot(mailbox)
            for key in ("aliases", "quota_mb", "postmaster", "language"):
                if key in values:
                    setattr(mailbox, RENAMED.get(key, key), values[key])
            bad = set(raw) - set(values) | ({"address"} if address is None else set())
            model_errors(mailbox, where, self.errors, bad, exclude=["user"])
            user = self._plan_login(mailbox, values, where, usernames, i)
            target = self._target(where, values)
            overrides = self._overrides(mailbox, values, where)
            if address is not None:
                login = user or (mailbox.user if mailbox.pk else None)
                login_before = snapshot(login) if login is not None and login.pk else None
                password = values.get("password")
                self.mailboxes.append(MailboxPlan(
                    mailbox, created, before, user, password, login, login_before, target,
                    overrides,
                ))

    def _plan_login(self, mailbox, values, where, usernames, index):
        User = get_user_model()
        user = mailbox.user
        username = values.get("username")
        if username is not None:
            user = User.objects.filter(username=username).first()
            others = Mailbox.objects.filter(user=user).exclude(address=mailbox.address)
            other = others.first() if user else None
            if username in usernames:
                self.errors.append(
                    f"{where}.username: also used by mailboxes[{usernames[username]}]"
                )
            elif other:
                self.errors.append(f"{where}.username: already the login of {other.address}")
            elif _is_admin(user) and user.pk != mailbox.user_id:
                # A mail file must not hand an admin login to a mailbox.
                self.errors.append(f"{where}.username: {username} is a staff login; refused")
                return None  # its password is not checked, so the refusal shows once
            elif mailbox.pk and _is_admin(mailbox.user) and user != mailbox.user:
                # Nor an admin's mailbox to another login: with a password the
                # file chooses, that login would read the admin's mail.
                self.errors.append(
                    f"{where}.username: the login of this mailbox, "
                    f"{mailbox.user.get_username()}, is a staff login; re-linking refused"
                )
                return None
            usernames.setdefault(username, index)
            if user is None:
                user = User(username=username, email=mailbox.address)
                try:
                    User._meta.get_field("username").clean(username, user)
                except ValidationError as e:
                    self.errors.extend(f"{where}.username: {m}" for m in e.messages)
        password = values.get("password")
        if password is not None:
            if user is None:
                self.errors.append(f"{where}.password: needs a username")
            elif _is_admin(user):
                # Whichever way the entry reaches it, an admin's password is
                # set in the admin, never by a mail file.
                self.errors.append(
                    f"{where}.password: the login of this mailbox is a staff login; refused"
                )
            else:
                try:
                    validate_password(password, user)
                except ValidationError as e:
                    self.errors.extend(f"{where}.password: {m}" for m in e.messages)
        return user if username is not None else None

    def _plan_accounts(self, items):
        seen = {}
        for i, raw in enumerate(items):
            where = f"accounts[{i}]"
            values = check_fields(raw, ACCOUNT_FIELDS, where, self.errors, ("password",))
            if values is None:
                continue
            found = self._find_account(where, raw, values, seen, i)
            account = found or RemoteAccount()
            before = snapshot(account)
            for k, value in values.items():
                if k not in _ACCOUNT_LINKS:
                    setattr(account, RENAMED.get(k, k), value)
            bad = set(raw) - set(values) | {"owner", "host", "username"} - set(raw)
            # An OAuth2 account signs in with its grant (the oauth member, or a
            # Connect in the admin after the import), not with a password.
            needs_password = account.auth_method not in OAUTH_METHODS
            if (account.pk is None and needs_password and "password" not in values
                    and "password" not in bad):
                self.errors.append(f"{where}.password: required for a new account")
            model_errors(account, where, self.errors, bad, exclude=["owner", "delivery_target"])
            target = self._target(where, values)
            oauth = values.get("oauth")
            if oauth is not None:
                check_grant(where, account, oauth, self.providers, self.errors)
            if found is not None:
                password = values.get("password")
                plan = AccountPlan(account, account.pk is None, before, values["owner"], password,
                                   target, oauth)
                self.accounts.append(plan)

    def _find_account(self, where, raw, values, seen, index):
        """The stored account the entry updates, a new one, or None when it cannot be placed."""
        key_fields = ("owner", "host", "username")
        self.errors.extend(f"{where}.{k}: required" for k in key_fields if k not in raw)
        owner_address, host, username = (values.get(k) for k in key_fields)
        owner = owner_address and Mailbox.objects.filter(address__iexact=owner_address).first()
        if owner_address and not owner and owner_address not in self.addresses:
            self.errors.append(
                f"{where}.owner: no mailbox {owner_address} in the file or the database"
            )
            return None
        if any(k not in values for k in key_fields):
            return None
        key = (owner_address, host.lower(), username)
        if key in seen:
            self.errors.append(f"{where}: same owner, host and username as accounts[{seen[key]}]")
            return None
        seen[key] = index
        if owner is None:
            return RemoteAccount()
        matches = RemoteAccount.objects.filter(owner=owner, host__iexact=host, username=username)
        # Host names are case-insensitive; prefer the exact spelling.
        matches = sorted(matches, key=lambda a: a.host != host)
        return matches[0] if matches else RemoteAccount()
