"""Mailboxes, remote accounts and global settings in and out as JSON-ready dicts.

The rules live here rather than in the management commands so that other
callers (an upload view, tests) get the same checks. Import is all-or-nothing:
every entry is checked and every problem collected, with its position, before
anything is written. A key absent from an entry keeps an existing record's
value and gives a new record the model default. No message quotes a secret.
"""

import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import DomainNameValidator
from django.db import transaction

from accounts.addresses import LOCALPART_RULE
from accounts.models import Mailbox, validate_mailbox_address
from delivery.maildir import folder_problem
from retrieval import crypto
from retrieval.models import GlobalSettings, RemoteAccount
from retrieval.models.account import validate_credential
from retrieval.models.settings import DEFAULT_HEADER_FIELDS

SECTIONS = ("settings", "mailboxes", "accounts")
# File keys whose model field is named differently.
RENAMED = {"postmaster": "is_postmaster", "keep": "keep_policy"}


class TransferError(Exception):
    """The data cannot be imported (or exported); `errors` lists every reason."""

    def __init__(self, errors):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


class _Invalid(Exception):
    def __init__(self, message, problems=None):
        super().__init__(message)
        # (suffix of the path, message) pairs, so a list can report each bad item.
        self.problems = problems or [("", message)]


# --- value checkers: return the cleaned value or raise _Invalid -------------
# Messages are fixed strings that never repeat the value: it may be a password.


def _integer(low, high=None, null=False):
    def check(value):
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid("must be an integer" + (" or null" if null else ""))
        if high is not None and not low <= value <= high:
            raise _Invalid(f"must be between {low} and {high}")
        if value < low:
            raise _Invalid(f"must be at least {low}")
        return value

    return check


def _boolean(value):
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _string(failure="", test=None, prepare=None):
    """A string checker: prepare() the value, then test() it (False or ValidationError fails)."""

    def check(value):
        if not isinstance(value, str):
            raise _Invalid("must be a string")
        value = prepare(value) if prepare else value
        try:
            if test is not None and test(value) is False:
                raise ValidationError(failure)
        except ValidationError:
            raise _Invalid(failure)
        return value

    return check


def _nonempty_credential(value):
    validate_credential(value)  # raises ValidationError
    return bool(value)


def _normalized(value):
    return value.strip().lower()


BREAKS = "carriage return, line feed or NUL"
_text = _string()
_required_text = _string("must not be empty", bool, str.strip)
_login_password = _string("must not be empty", bool)
_remote_password = _string(f"must not contain {BREAKS}", validate_credential)
_remote_username = _string(f"must be non-empty, without {BREAKS}", _nonempty_credential)
_folder = _string(f"must be a non-empty folder name without {BREAKS}", _nonempty_credential)
_host = _string(
    "must be a host name without spaces or control characters",
    lambda v: bool(v) and all(c.isprintable() and not c.isspace() for c in v),
    str.strip,
)
_email = _string(
    f"not a valid mailbox address (before the @: {LOCALPART_RULE})", validate_mailbox_address,
    _normalized,
)
_target_folder = _string("not a valid folder name", lambda v: folder_problem(v) is None)
_domain = _string("not a valid domain name", DomainNameValidator(), _normalized)
# RFC 5322 field names: printable ASCII except the colon.
_header_name = _string(
    "not a valid header field name", lambda v: bool(re.fullmatch(r"[!-9;-~]+", v))
)


def _choice(choices):
    allowed = list(choices.values)
    return _string("must be one of " + ", ".join(allowed), allowed.__contains__)


def _list_of(item):
    def check(value):
        if not isinstance(value, list):
            raise _Invalid("must be a list")
        out, problems = [], []
        for i, element in enumerate(value):
            try:
                out.append(item(element))
            except _Invalid as e:
                problems.append((f"[{i}]", str(e)))
        if problems:
            raise _Invalid(problems[0][1], problems)
        return out

    return check


SETTINGS_FIELDS = {
    "max_concurrent_downloads": _integer(0),
    "max_sessions_per_host": _integer(0),
    "connection_retries": _integer(1, 20),
    "retry_seconds": _integer(0),
    "timeout_seconds": _integer(1),
    "messages_per_download": _integer(0),
    "duplicate_check": _boolean,
    "parse_headers": _boolean,
    "header_fields": _list_of(_header_name),
    "accepted_domains": _list_of(_domain),
    "reroute_unknown": _boolean,
    "max_recipients": _integer(0),
    "poll_minutes": _integer(1),
    "service_running": _boolean,
}


MAILBOX_FIELDS = {
    "address": _email,
    "username": _required_text,
    "password": _login_password,
    "aliases": _list_of(_email),
    "quota_mb": _integer(0),
    "postmaster": _boolean,
}
# Order here is the order of the keys in an exported entry.
ACCOUNT_FIELDS = {
    "owner": _email,
    "name": _text,
    "protocol": _choice(RemoteAccount.Protocol),
    "security": _choice(RemoteAccount.Security),
    "host": _host,
    "port": _integer(1, 65535, null=True),
    "username": _remote_username,
    "password": _remote_password,
    "verify_tls": _boolean,
    "keep": _choice(RemoteAccount.Keep),
    "keep_days": _integer(1),
    "folders": _list_of(_folder),
    "mode": _choice(RemoteAccount.Mode),
    "target_folder": _target_folder,
    "poll_minutes": _integer(1, null=True),
    "max_message_mb": _integer(0),
    "enabled": _boolean,
}


def _check_fields(raw, spec, where, errors, absent_if_null=()):
    """Check the keys present in `raw`; return the clean ones (bad ones are left out)."""
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be an object")
        return None
    values = {}
    for key, value in raw.items():
        if key not in spec:
            errors.append(f"{where}.{key}: unknown key")
        elif value is None and key in absent_if_null:
            continue
        else:
            try:
                values[key] = spec[key](value)
            except _Invalid as e:
                errors.extend(f"{where}.{key}{suffix}: {msg}" for suffix, msg in e.problems)
    return values


def _model_errors(obj, where, errors, skip, exclude=()):
    """Run the model's own validation, leaving out keys already reported."""
    try:
        obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as e:
        fields = {v: k for k, v in RENAMED.items()}
        for attr, messages in e.message_dict.items():
            key = fields.get(attr, attr)
            if key in skip:
                continue
            path = where if attr == NON_FIELD_ERRORS else f"{where}.{key}"
            errors.extend(f"{path}: {m}" for m in messages)


def _snapshot(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _changed(obj, before):
    return obj.pk is None or _snapshot(obj) != before


@dataclass
class _MailboxPlan:
    mailbox: Mailbox
    created: bool
    before: dict
    user: object  # the login to link, or None to leave the link alone
    password: str | None


@dataclass
class _AccountPlan:
    account: RemoteAccount
    created: bool
    before: dict
    owner: str
    password: str | None


class _Importer:
    def __init__(self, data):
        self.errors = []
        self.settings = None
        self.mailboxes = []
        self.accounts = []
        self.addresses = {}  # mailbox address in the file -> its index
        if not isinstance(data, dict):
            self.errors.append("top level: must be an object with " + ", ".join(SECTIONS))
            return
        self.errors.extend(f"{key}: unknown key" for key in data if key not in SECTIONS)
        if "settings" in data:
            self._plan_settings(data["settings"])
        self._plan_mailboxes(self._section(data, "mailboxes"))
        self._plan_accounts(self._section(data, "accounts"))

    def _section(self, data, name):
        items = data.get(name, [])
        if not isinstance(items, list):
            self.errors.append(f"{name}: must be a list")
            return []
        return items

    def _plan_settings(self, raw):
        values = _check_fields(raw, SETTINGS_FIELDS, "settings", self.errors)
        if values is None:
            return
        # Not GlobalSettings.load(): checking must not write anything.
        gs = GlobalSettings.objects.filter(pk=1).first() or GlobalSettings(pk=1)
        before = _snapshot(gs)
        for key, value in values.items():
            setattr(gs, key, value)
        # save() would turn an empty list into the defaults anyway; doing it
        # now keeps a second import of the same file a no-op.
        gs.header_fields = gs.header_fields or list(DEFAULT_HEADER_FIELDS)
        _model_errors(gs, "settings", self.errors, skip=set(raw) - set(values))
        self.settings = (gs, before)

    def _plan_mailboxes(self, items):
        usernames = {}
        for i, raw in enumerate(items):
            where = f"mailboxes[{i}]"
            values = _check_fields(
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
            before = _snapshot(mailbox)
            for key in ("aliases", "quota_mb", "postmaster"):
                if key in values:
                    setattr(mailbox, RENAMED.get(key, key), values[key])
            bad = set(raw) - set(values) | ({"address"} if address is None else set())
            _model_errors(mailbox, where, self.errors, bad, exclude=["user"])
            user = self._plan_login(mailbox, values, where, usernames, i)
            if address is not None:
                password = values.get("password")
                self.mailboxes.append(_MailboxPlan(mailbox, created, before, user, password))

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
            elif user is not None and (user.is_staff or user.is_superuser):
                # A mail file must not take over (and re-password) an admin login.
                self.errors.append(f"{where}.username: {username} is a staff login; refused")
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
            values = _check_fields(raw, ACCOUNT_FIELDS, where, self.errors, ("password",))
            if values is None:
                continue
            found = self._find_account(where, raw, values, seen, i)
            account = found or RemoteAccount()
            before = _snapshot(account)
            for k, value in values.items():
                if k not in ("owner", "password"):
                    setattr(account, RENAMED.get(k, k), value)
            bad = set(raw) - set(values) | {"owner", "host", "username"} - set(raw)
            if account.pk is None and "password" not in values and "password" not in bad:
                self.errors.append(f"{where}.password: required for a new account")
            _model_errors(account, where, self.errors, bad, exclude=["owner"])
            if found is not None:
                password = values.get("password")
                plan = _AccountPlan(account, account.pk is None, before, values["owner"], password)
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

    def apply(self):
        counts = {"mailboxes": [0, 0], "accounts": [0, 0]}
        if self.settings and _changed(*self.settings):
            self.settings[0].save()
        saved = {}
        for plan in self.mailboxes:
            mailbox = plan.mailbox
            login = plan.user or (mailbox.user if mailbox.pk else None)
            if login is not None and login.pk is None:
                if plan.password is None:
                    login.set_unusable_password()
                else:
                    login.set_password(plan.password)
                login.save()
            elif login is not None and plan.password is not None:
                # Rehashing an unchanged password would make every import a write.
                if not login.check_password(plan.password):
                    login.set_password(plan.password)
                    login.save(update_fields=["password"])
            if plan.user is not None:
                mailbox.user = plan.user
            if _changed(mailbox, plan.before):
                mailbox.save()
            saved[mailbox.address] = mailbox
            counts["mailboxes"][0 if plan.created else 1] += 1
        for plan in self.accounts:
            account = plan.account
            account.owner = saved.get(plan.owner) or Mailbox.objects.get(address__iexact=plan.owner)
            if plan.password is not None and (
                plan.created or not _same_password(account, plan.password)
            ):
                if plan.password:
                    account.set_password(plan.password)
                else:
                    account.password_encrypted = ""
            if _changed(account, plan.before):
                account.save()
            counts["accounts"][0 if plan.created else 1] += 1
        return {name: tuple(pair) for name, pair in counts.items()}


def _same_password(account, password):
    # Fernet tokens differ on every encryption, so compare plaintexts to keep
    # a repeated import from rewriting the column.
    try:
        return account.get_password() == password
    except crypto.SecretError:
        return False


def import_data(data, dry_run=False):
    """Validate and import `data`; return {"mailboxes": (created, updated), ...}.

    Raises TransferError listing every problem, having written nothing.
    """
    # Checking inside the transaction means the rows we checked against are
    # the rows we write over.
    with transaction.atomic():
        importer = _Importer(data)
        if importer.errors:
            raise TransferError(importer.errors)
        counts = importer.apply()
        if dry_run:
            transaction.set_rollback(True)
    return counts


def summary(counts):
    return "; ".join(f"{name}: {c} created, {u} updated" for name, (c, u) in counts.items())


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
                    except crypto.SecretError as e:
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
