"""Property-based tests of the import format: any document is answered cleanly, and
nothing outside the rules is ever imported."""

import copy
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accounts.models import Mailbox
from retrieval import transfer
from retrieval.models import GlobalSettings, RemoteAccount
from retrieval.transfer.schema import ACCOUNT_FIELDS, MAILBOX_FIELDS, SETTINGS_FIELDS

User = get_user_model()

ADMIN_PASSWORD = "Unchanged-Admin-Pw-1"
SECRET = "SECRET-"  # every generated password starts so, to spot an echo

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # leave no example database in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any character json.loads() can return: lone surrogates and NUL included.
# Neither PostgreSQL text nor UTF-8 can hold these.
UNSTORABLE = ["\0", "\ud800", "\udfff"]
hostile = st.sampled_from("\0\ud800\udfff\r\n\x7f/\".")
characters = st.characters(exclude_categories=()) | hostile


def weighted(*pairs):
    """One of the strategies, each drawn about `weight` times in ten."""
    table = [strategy for weight, strategy in pairs for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(table.__getitem__)


def text(max_size):
    return st.text(characters, max_size=max_size)


def spoiled(strings):
    """A plausible string with one hostile character put in somewhere."""
    return st.builds(
        lambda s, at, c: s[: at % (len(s) + 1)] + c + s[at % (len(s) + 1) :],
        strings,
        st.integers(min_value=0),
        weighted(
            (4, st.sampled_from(UNSTORABLE)),
            (3, hostile),
            (3, st.characters(exclude_categories=())),
        ),
    )


# Anything json.loads() can return, NaN included.
leaves = st.none() | st.booleans() | st.integers() | st.floats() | text(12)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(text(8), inner, max_size=3),
    max_leaves=12,
)

addresses = (
    st.sampled_from(["alice@example.com", "Bob@Example.COM", "root@example.com", "a@b"])
    | st.emails()
    | text(max_size=20)
)
usernames = st.sampled_from(["alice", "bob", "root", "staffer"]) | text(max_size=12)
passwords = text(max_size=16).map(lambda s: SECRET + s) | st.just(SECRET + "Wobbly-Lantern-42")
names = text(max_size=20) | st.sampled_from(["INBOX", "Work/Reports", ""])
hosts = st.sampled_from(["pop.remote.test", " POP.remote.test "]) | text(max_size=20)
integers = st.integers(min_value=-3, max_value=70000) | st.integers()


def choices(model_choices):
    return st.sampled_from(list(model_choices.values)) | text(max_size=8)


# Plausible values per key, so that entries get past the type checks and
# deep into the rules; each also comes with a hostile character put in.
STRINGS = {
    "address": addresses,
    "owner": addresses,
    "username": usernames,
    "password": passwords,
    "host": hosts,
    "name": names,
    "target_folder": names,
    "protocol": choices(RemoteAccount.Protocol),
    "security": choices(RemoteAccount.Security),
    "keep": choices(RemoteAccount.Keep),
    "mode": choices(RemoteAccount.Mode),
}
LISTS = {
    "aliases": addresses,
    "folders": names,
    "header_fields": st.sampled_from(["To", "Delivered-To"]) | text(max_size=10),
    "accepted_domains": st.sampled_from(["example.com", "Example.ORG"]) | text(max_size=12),
}


def value_for(key):
    """Mostly a plausible value with a hostile character in it, else plausible, else anything."""
    if key in STRINGS:
        plausible, spoilt = STRINGS[key], spoiled(STRINGS[key])
    elif key in LISTS:
        item = LISTS[key]
        plausible = st.lists(item, max_size=3)
        spoilt = st.lists(weighted((5, spoiled(item)), (5, item)), min_size=1, max_size=3)
    else:
        # Booleans and integers are the other types the format holds.
        return weighted((8, st.booleans() | integers), (2, leaves))
    return weighted((5, spoilt), (3, plausible), (2, leaves))


def entries(fields):
    optional = {key: value_for(key) for key in fields}
    return st.fixed_dictionaries({}, optional=optional) | json_values


structured = st.fixed_dictionaries(
    {},
    optional={
        "settings": entries(SETTINGS_FIELDS),
        "mailboxes": st.lists(entries(MAILBOX_FIELDS), max_size=4) | leaves,
        "accounts": st.lists(entries(ACCOUNT_FIELDS), max_size=4) | leaves,
        "extra": json_values,
    },
)

VALID = {
    "settings": {"accepted_domains": ["example.com"], "poll_minutes": 5},
    "mailboxes": [
        {"address": "alice@example.com", "username": "alice", "password": "Wobbly-Lantern-42",
         "aliases": ["a@example.com"], "quota_mb": 10, "postmaster": True},
        {"address": "carol@example.com", "username": "carol"},
    ],
    "accounts": [
        {"owner": "carol@example.com", "host": "pop.remote.test", "username": "carol",
         "password": "remote-Pass-1", "name": "Work", "target_folder": "Work",
         "folders": ["INBOX"], "protocol": "imap", "keep": "keep"},
    ],
}
PLACES = [
    (section, index, key)
    for section, index, fields in [
        ("settings", None, SETTINGS_FIELDS),
        ("mailboxes", 0, MAILBOX_FIELDS),
        ("mailboxes", 1, MAILBOX_FIELDS),
        ("accounts", 0, ACCOUNT_FIELDS),
    ]
    for key in fields
]


@st.composite
def nearly_valid(draw):
    """The valid document with a few values replaced: the shortest way deep in."""
    doc = copy.deepcopy(VALID)
    for section, index, key in draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=8)):
        entry = doc[section] if index is None else doc[section][index]
        entry[key] = draw(value_for(key))
    return doc


documents = weighted((6, nearly_valid()), (3, structured), (1, json_values))

KEY = r'([A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")'
POSITION = re.compile(rf"(top level|{KEY}(\[\d+\])?)(\.{KEY})?(\[\d+\])?: \S")



@pytest.fixture
def existing(db):
    """A superuser with a mailbox, a staff login without one, and an ordinary mailbox."""
    root = User.objects.create_superuser("root", "", ADMIN_PASSWORD)
    Mailbox.objects.create(address="root@example.com", user=root)
    User.objects.create_user("staffer", password=ADMIN_PASSWORD, is_staff=True)
    Mailbox.objects.create(address="alice@example.com")
    return {user.pk: user.password for user in User.objects.all()}


def attempt(doc, dry_run):
    """Import `doc` and roll it back; return the errors (empty when it would import)."""
    try:
        with transaction.atomic():
            transfer.import_data(doc, dry_run=dry_run)
            check_everything_stored_follows_the_rules()
            transaction.set_rollback(True)
    except transfer.TransferError as e:
        return e.errors
    return []


def check_everything_stored_follows_the_rules():
    for model in (Mailbox, RemoteAccount, GlobalSettings):
        for record in model.objects.all():
            record.full_clean()
    for user in User.objects.all():
        user.full_clean()
        assert not any(ch in user.username for ch in "\0\r\n")


def assert_clean(errors):
    assert isinstance(errors, list)
    for error in errors:
        assert isinstance(error, str)
        assert POSITION.match(error), error
        assert error.isprintable(), error
        assert SECRET not in error


@FUZZ
@given(doc=documents)
def test_it_answers_any_document_with_positioned_errors_or_a_plan(existing, doc):
    assert_clean(attempt(doc, dry_run=True))


@FUZZ
@given(doc=documents)
def test_it_imports_nothing_outside_the_rules(existing, doc):
    errors = attempt(doc, dry_run=False)

    event("refused" if errors else "imported")
    assert_clean(errors)
    # Admin logins keep their passwords and gain no mailbox, whatever the file said.
    for pk, password in existing.items():
        assert User.objects.get(pk=pk).password == password
    assert list(Mailbox.objects.filter(user__is_staff=True).values_list("address")) == [
        ("root@example.com",)
    ]


STRING_PLACES = [
    (section, index, key)
    for section, index, key in PLACES
    if key in STRINGS or key in LISTS
]


@pytest.mark.parametrize("character", UNSTORABLE, ids=["NUL", "high-surrogate", "low-surrogate"])
@pytest.mark.parametrize("place", STRING_PLACES, ids=lambda p: ".".join(map(str, p)))
def test_it_refuses_a_character_no_database_can_store(existing, place, character):
    # Found by the properties above: these reached a query and crashed it.
    section, index, key = place
    doc = copy.deepcopy(VALID)
    entry = doc[section] if index is None else doc[section][index]
    value = "Wobbly-Lantern-42" if key == "password" else str(entry.get(key) or "x")
    spoilt = value[:3] + character + value[3:]
    entry[key] = [spoilt] if key in LISTS else spoilt
    where = section if index is None else f"{section}[{index}]"

    for dry_run in (True, False):
        errors = attempt(doc, dry_run)

        assert_clean(errors)
        assert any(e.startswith(f"{where}.{key}") for e in errors), errors
