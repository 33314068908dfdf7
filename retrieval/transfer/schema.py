"""The import format: sections, keys, and the rule each value must follow.

Every checker returns the cleaned value or raises Invalid with a fixed
message that never repeats the value (it may be a password). Rules the models
already hold (field validators, choices, clean()) are run through the model by
model_errors() rather than copied here.
"""

import json
import re

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import DomainNameValidator
from django.utils.dateparse import parse_datetime

from accounts.addresses import LOCALPART_RULE
from accounts.models import validate_mailbox_address
from delivery.maildir import folder_problem
from delivery.models import DeliveryTarget
from popadmin.secrets import validate_credential
from retrieval.models import OAuthProvider, RemoteAccount

# In the order they are written: a section may name records of those before it.
SECTIONS = ("settings", "oauth_providers", "delivery_targets", "mailboxes", "accounts")
# File keys whose model field is named differently.
RENAMED = {"postmaster": "is_postmaster", "keep": "keep_policy", "default": "is_default"}


# The languages a mailbox's owner may choose (Mailbox.language).
LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]


class TransferError(Exception):
    """The data cannot be imported (or exported); `errors` lists every reason."""

    def __init__(self, errors):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


class Invalid(Exception):
    """One value breaks a rule; `problems` holds each bad item of a list."""

    def __init__(self, message, problems=None):
        super().__init__(message)
        # (suffix of the path, message) pairs, so a list can report each bad item.
        self.problems = problems or [("", message)]


# --- value checkers: return the cleaned value or raise Invalid -------------
# Messages are fixed strings that never repeat the value: it may be a password.


def _integer(low, high=None, null=False):
    def check(value):
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("must be an integer" + (" or null" if null else ""))
        if high is not None and not low <= value <= high:
            raise Invalid(f"must be between {low} and {high}")
        if value < low:
            raise Invalid(f"must be at least {low}")
        return value

    return check


def _boolean(value):
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _string(failure="", test=None, prepare=None):
    """A string checker: prepare() the value, then test() it (False or ValidationError fails)."""

    def check(value):
        if not isinstance(value, str):
            raise Invalid("must be a string")
        if _UNSTORABLE.search(value):
            # PostgreSQL text cannot hold NUL, nor UTF-8 a lone surrogate (JSON
            # can): either would fail a query or a write, not the check.
            raise Invalid("must not contain NUL or unpaired surrogate characters")
        value = prepare(value) if prepare else value
        try:
            if test is not None and test(value) is False:
                raise ValidationError(failure)
        except ValidationError:
            raise Invalid(failure)
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


def _optional(check):
    """`check`, or null."""
    return lambda value: None if value is None else check(value)


def _boolean_or_null(value):
    return None if value is None else _boolean(value)


def _datetime(value):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise Invalid("must be a date and time (ISO 8601 with a UTC offset) or null")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Invalid("must be a date and time (ISO 8601 with a UTC offset) or null")
    return parsed


def _folder_map(value):
    if not isinstance(value, dict):
        raise Invalid('must be an object: {"remote folder": "destination folder"}')
    problems = []
    for source, folder in value.items():
        try:
            _folder(source)
            _target_folder(folder)
        except Invalid as e:
            problems.append((f".{key_name(source)}", str(e)))
    if problems:
        raise Invalid(problems[0][1], problems)
    return dict(value)


def _object(spec, required=()):
    """An object whose keys follow `spec`: its clean value, each bad key reported by path."""

    def check(value):
        if not isinstance(value, dict):
            raise Invalid("must be an object")
        values, problems = {}, []
        for key, item in value.items():
            if key not in spec:
                problems.append((f".{key_name(key)}", "unknown key"))
                continue
            try:
                values[key] = spec[key](item)
            except Invalid as e:
                problems.extend((f".{key}{suffix}", message) for suffix, message in e.problems)
        problems.extend((f".{key}", "required") for key in required if key not in value)
        if problems:
            raise Invalid(problems[0][1], problems)
        return values

    return check


def _choice(choices):
    allowed = list(choices.values)
    return _string("must be one of " + ", ".join(allowed), allowed.__contains__)


def _list_of(item):
    def check(value):
        if not isinstance(value, list):
            raise Invalid("must be a list")
        out, problems = [], []
        for i, element in enumerate(value):
            try:
                out.append(item(element))
            except Invalid as e:
                problems.append((f"[{i}]", str(e)))
        if problems:
            raise Invalid(problems[0][1], problems)
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
    "restrict_all_accounts": _boolean,
    "allowed_internal_networks": _list_of(_required_text),
    "allowed_ports": _list_of(_integer(1, 65535)),
    "ca_file": _text,
    "history_days": _integer(31),
    "alert_after_minutes": _integer(1),
    "alert_owners": _boolean,
    "alert_admins": _boolean,
}
# A mailbox's own overrides of the global settings (UserSettings); null inherits.
USER_SETTINGS_FIELDS = {
    "connection_retries": _integer(1, 20, null=True),
    "retry_seconds": _integer(0, null=True),
    "timeout_seconds": _integer(1, null=True),
    "messages_per_download": _integer(0, null=True),
    "duplicate_check": _boolean_or_null,
    "poll_minutes": _integer(1, null=True),
    "alert_after_minutes": _integer(1, null=True),
}
# An OAuth2 grant: a refresh token the provider issued, for an account or a target.
OAUTH_FIELDS = {
    "provider": _required_text,
    "refresh_token": _string(f"must be non-empty, without {BREAKS}", _nonempty_credential),
    "scopes": _text,
    "connected_as": _text,
    "connected_at": _datetime,
    "refresh_expires": _datetime,
    "expired": _boolean,
}
_oauth = _object(OAUTH_FIELDS, required=("provider", "refresh_token"))
_name = _optional(_required_text)

PROVIDER_FIELDS = {
    "name": _required_text,
    "preset": _choice(OAuthProvider.Preset),
    "tenant": _text,
    "client_id": _text,
    "client_secret": _text,
    "authorization_endpoint": _text,
    "token_endpoint": _text,
    "device_endpoint": _text,
    "revocation_endpoint": _text,
    "introspection_endpoint": _text,
    "scopes": _text,
    "refresh_token_days": _integer(0),
    "warn_days": _integer(0),
}
TARGET_FIELDS = {
    "name": _required_text,
    "kind": _choice(DeliveryTarget.Kind),
    "default": _boolean,
    "host": _text,
    "port": _integer(1, 65535, null=True),
    "socket_path": _text,
    "security": _choice(DeliveryTarget.Security),
    "verify_tls": _boolean,
    "username": _remote_password,
    "password": _remote_password,
    "auth_method": _choice(DeliveryTarget.AuthMethod),
    "recipient_form": _choice(DeliveryTarget.RecipientForm),
    "timeout_seconds": _integer(0),
    "webmail_url": _text,
    "oauth": _oauth,
}


MAILBOX_FIELDS = {
    "address": _email,
    "username": _required_text,
    "password": _login_password,
    "aliases": _list_of(_email),
    "quota_mb": _integer(0),
    "postmaster": _boolean,
    "language": _string("must be empty or one of " + ", ".join(LANGUAGE_CODES),
                        lambda v: v == "" or v in LANGUAGE_CODES),
    "delivery_target": _name,
    "settings": _object(USER_SETTINGS_FIELDS),
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
    "auth_method": _choice(RemoteAccount.AuthMethod),
    "oauth": _oauth,
    "verify_tls": _boolean,
    "keep": _choice(RemoteAccount.Keep),
    "keep_days": _integer(1),
    "folders": _list_of(_folder),
    "mode": _choice(RemoteAccount.Mode),
    "target_folder": _target_folder,
    "folder_map": _folder_map,
    "delivery_target": _name,
    "poll_minutes": _integer(1, null=True),
    "max_message_mb": _integer(0),
    "enabled": _boolean,
    "push": _boolean,
    "network_restricted": _boolean,
    "created_by_user": _boolean,
}


def key_name(key):
    """A key as it appears in an error: plain, or quoted and escaped when it is odd."""
    key = str(key)
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key):
        return key
    # Escaped, so a key cannot break the one-error-per-line listing.
    return json.dumps(key[:64])


def check_fields(raw, spec, where, errors, absent_if_null=()):
    """Check the keys present in `raw`; return the clean ones (bad ones are left out)."""
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be an object")
        return None
    values = {}
    for key, value in raw.items():
        if key not in spec:
            errors.append(f"{where}.{key_name(key)}: unknown key")
        elif value is None and key in absent_if_null:
            continue
        else:
            try:
                values[key] = spec[key](value)
            except Invalid as e:
                errors.extend(f"{where}.{key}{suffix}: {msg}" for suffix, msg in e.problems)
    return values


def model_errors(obj, where, errors, skip, exclude=()):
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
