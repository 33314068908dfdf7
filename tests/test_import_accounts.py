import copy
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Mailbox
from retrieval.models import GlobalSettings, RemoteAccount

User = get_user_model()

LOGIN_PASSWORD = "Wobbly-Lantern-42"
REMOTE_PASSWORDS = ["rem0te-Secret-one", "rem0te-Secret-two", "rem0te-Secret-three"]

DOCUMENT = {
    "settings": {
        "max_concurrent_downloads": 4,
        "connection_retries": 5,
        "retry_seconds": 15,
        "timeout_seconds": 90,
        "messages_per_download": 50,
        "duplicate_check": False,
        "parse_headers": True,
        "header_fields": ["Delivered-To", "To"],
        "accepted_domains": ["Example.COM", "example.org"],
        "reroute_unknown": True,
        "poll_minutes": 7,
        "service_running": False,
    },
    "mailboxes": [
        {
            "address": "Alice@Example.com",
            "username": "alice",
            "password": LOGIN_PASSWORD,
            "aliases": ["a@example.com"],
            "quota_mb": 500,
            "postmaster": True,
        },
        {"address": "bob@example.com", "username": "bob", "quota_mb": 0, "postmaster": False},
    ],
    "accounts": [
        {
            "owner": "alice@example.com",
            "protocol": "pop3",
            "security": "tls",
            "host": "pop.remote.test",
            "port": None,
            "username": "alice.remote",
            "password": REMOTE_PASSWORDS[0],
            "verify_tls": True,
            "keep": "keep_days",
            "keep_days": 14,
            "folders": [],
            "mode": "single",
            "target_folder": "Remote",
            "poll_minutes": None,
            "enabled": True,
        },
        {
            "owner": "alice@example.com",
            "protocol": "imap",
            "security": "starttls",
            "host": "imap.remote.test",
            "port": 1143,
            "username": "alice",
            "password": REMOTE_PASSWORDS[1],
            "verify_tls": False,
            "keep": "keep",
            "folders": ["INBOX", "Work/Reports"],
            "mode": "catchall",
            "poll_minutes": 3,
            "enabled": False,
        },
        {
            "owner": "bob@example.com",
            "protocol": "pop3",
            "security": "none",
            "host": "pop.remote.test",
            "username": "bob",
            "password": REMOTE_PASSWORDS[2],
            "keep": "delete",
            "mode": "single",
        },
    ],
}



def document(**changes):
    doc = copy.deepcopy(DOCUMENT)
    doc.update(changes)
    return doc


def run_import(tmp_path, doc, name="in.json", *options):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    out = io.StringIO()
    call_command("import_accounts", str(path), *options, stdout=out)
    return out.getvalue()


def import_error(tmp_path, doc):
    with pytest.raises(CommandError) as excinfo:
        run_import(tmp_path, doc)
    return str(excinfo.value)


def assert_nothing_imported():
    assert not Mailbox.objects.exists()
    assert not RemoteAccount.objects.exists()
    assert not User.objects.exists()
    assert not GlobalSettings.objects.exists()


def db_state():
    rows = []
    for model in (Mailbox, RemoteAccount, User, GlobalSettings):
        rows += [tuple(sorted(r.items())) for r in model.objects.order_by("pk").values()]
    return rows


@pytest.mark.django_db
def test_it_creates_mailboxes_users_accounts_and_settings(tmp_path):
    out = run_import(tmp_path, DOCUMENT)

    assert "mailboxes: 2 created, 0 updated; accounts: 3 created, 0 updated" in out
    alice = Mailbox.objects.get(address="alice@example.com")
    assert alice.aliases == ["a@example.com"]
    assert (alice.quota_mb, alice.is_postmaster) == (500, True)
    assert alice.user.username == "alice"
    assert alice.user.check_password(LOGIN_PASSWORD)
    bob = Mailbox.objects.get(address="bob@example.com")
    assert bob.user.username == "bob"
    assert not bob.user.has_usable_password()

    pop = RemoteAccount.objects.get(owner=alice, host="pop.remote.test")
    assert (pop.protocol, pop.security, pop.port, pop.effective_port) == ("pop3", "tls", None, 995)
    assert (pop.keep_policy, pop.keep_days, pop.target_folder) == ("keep_days", 14, "Remote")
    imap = RemoteAccount.objects.get(owner=alice, host="imap.remote.test")
    assert (imap.port, imap.verify_tls, imap.enabled, imap.poll_minutes) == (1143, False, False, 3)
    assert (imap.mode, imap.keep_policy) == ("catchall", "keep")
    assert imap.folders == ["INBOX", "Work/Reports"]
    assert RemoteAccount.objects.get(owner=bob).keep_policy == "delete"

    gs = GlobalSettings.objects.get()
    assert gs.max_concurrent_downloads == 4
    assert (gs.connection_retries, gs.retry_seconds, gs.timeout_seconds) == (5, 15, 90)
    assert (gs.messages_per_download, gs.poll_minutes) == (50, 7)
    assert (gs.duplicate_check, gs.parse_headers, gs.reroute_unknown) == (False, True, True)
    assert gs.service_running is False
    assert gs.header_fields == ["Delivered-To", "To"]
    assert gs.accepted_domains == ["example.com", "example.org"]


@pytest.mark.django_db
def test_it_stores_remote_passwords_encrypted(tmp_path):
    run_import(tmp_path, DOCUMENT)

    for entry in DOCUMENT["accounts"]:
        account = RemoteAccount.objects.get(host=entry["host"], username=entry["username"])
        assert entry["password"] not in account.password_encrypted
        assert account.get_password() == entry["password"]


@pytest.mark.django_db
def test_it_changes_nothing_when_the_same_file_is_imported_twice(tmp_path):
    run_import(tmp_path, DOCUMENT)
    before = db_state()

    out = run_import(tmp_path, DOCUMENT)

    assert "mailboxes: 0 created, 2 updated; accounts: 0 created, 3 updated" in out
    assert db_state() == before


@pytest.mark.django_db
def test_it_updates_existing_entries(tmp_path):
    run_import(tmp_path, DOCUMENT)
    old_token = RemoteAccount.objects.get(username="bob").password_encrypted
    doc = document()
    mailbox = doc["mailboxes"][1]
    mailbox.update(address="BOB@example.com", quota_mb=100, password="Another-Pass-77")
    mailbox.pop("postmaster")
    account = doc["accounts"][2]
    account.update(host="POP.remote.test", port=2110, keep="keep", poll_minutes=30)
    del account["password"]

    # Another port: the preview's "connects another way" needs a confirmation.
    out = run_import(tmp_path, doc, "in.json", "--confirm-rewrites")

    assert "mailboxes: 0 created, 2 updated; accounts: 0 created, 3 updated" in out
    bob = Mailbox.objects.get(address="bob@example.com")
    assert bob.quota_mb == 100
    assert bob.user.check_password("Another-Pass-77")
    updated = RemoteAccount.objects.get(owner=bob)
    assert (updated.port, updated.keep_policy, updated.poll_minutes) == (2110, "keep", 30)
    assert updated.password_encrypted == old_token
    assert updated.get_password() == REMOTE_PASSWORDS[2]
    assert RemoteAccount.objects.count() == 3
    # A login password left out of the file stays as it was.
    assert Mailbox.objects.get(address="alice@example.com").user.check_password(LOGIN_PASSWORD)


@pytest.mark.django_db
def test_it_imports_nothing_and_reports_every_error_with_its_position(tmp_path):
    doc = document()
    doc["settings"]["bogus"] = 1
    doc["mailboxes"][0]["address"] = "not an address"
    doc["accounts"][1]["port"] = 70000
    doc["accounts"][2]["keep_days"] = 0
    doc["accounts"].append({"owner": "bob@example.com", "host": "h.test", "username": "u"})

    message = import_error(tmp_path, doc)

    assert "nothing imported, 7 error(s)" in message
    assert "settings.bogus: unknown key" in message
    assert "mailboxes[0].address: not a valid mailbox address" in message
    # Alice's mailbox is rejected, so her accounts have no owner either.
    assert "accounts[0].owner: no mailbox alice@example.com" in message
    assert "accounts[1].owner: no mailbox alice@example.com" in message
    assert "accounts[1].port: must be between 1 and 65535" in message
    assert "accounts[2].keep_days: must be at least 1" in message
    assert "accounts[3].password: required for a new account" in message
    assert_nothing_imported()


@pytest.mark.django_db
def test_it_keeps_existing_data_when_an_update_fails(tmp_path):
    run_import(tmp_path, DOCUMENT)
    before = db_state()
    doc = document()
    doc["mailboxes"][1]["quota_mb"] = 1
    doc["accounts"][0]["protocol"] = "smtp"

    import_error(tmp_path, doc)

    assert db_state() == before


@pytest.mark.django_db
def test_it_rejects_an_unknown_owner(tmp_path):
    doc = document()
    doc["accounts"][2]["owner"] = "nobody@example.com"

    message = import_error(tmp_path, doc)

    assert "accounts[2].owner: no mailbox nobody@example.com" in message
    assert_nothing_imported()


@pytest.mark.django_db
def test_it_accepts_an_owner_already_in_the_database(tmp_path):
    Mailbox.objects.create(address="carol@example.com")
    doc = {"accounts": [dict(DOCUMENT["accounts"][2], owner="carol@example.com")]}

    out = run_import(tmp_path, doc)

    assert "accounts: 1 created, 0 updated" in out
    assert RemoteAccount.objects.get().owner.address == "carol@example.com"


@pytest.mark.django_db
def test_it_rejects_bad_protocol_keep_and_mode(tmp_path):
    doc = document()
    doc["accounts"][0].update(protocol="smtp", keep="forever", mode="broadcast", security="ssl")

    message = import_error(tmp_path, doc)

    assert "accounts[0].protocol: must be one of pop3, imap" in message
    assert "accounts[0].keep: must be one of delete, keep, keep_days" in message
    assert "accounts[0].mode: must be one of single, catchall" in message
    assert "accounts[0].security: must be one of tls, starttls, none" in message
    assert_nothing_imported()


@pytest.mark.django_db
def test_it_rejects_wrong_types(tmp_path):
    doc = document()
    doc["settings"]["poll_minutes"] = "10"
    doc["mailboxes"][0]["postmaster"] = "yes"
    doc["accounts"][0].update(port=True, folders="INBOX", enabled=1)
    doc["accounts"][1]["folders"] = ["INBOX", ""]

    message = import_error(tmp_path, doc)

    assert "settings.poll_minutes: must be an integer" in message
    assert "mailboxes[0].postmaster: must be true or false" in message
    assert "accounts[0].port: must be an integer or null" in message
    assert "accounts[0].folders: must be a list" in message
    assert "accounts[0].enabled: must be true or false" in message
    assert "accounts[1].folders[1]: must be a non-empty folder name" in message
    assert_nothing_imported()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad, rule",
    [
        ("\r\n", "carriage return, line feed or NUL"),
        ("\n", "carriage return, line feed or NUL"),
        # No string of the file may hold NUL; the general rule answers first.
        ("\0", "NUL or unpaired surrogate characters"),
    ],
)
def test_it_refuses_line_breaks_in_a_password_without_echoing_it(tmp_path, bad, rule):
    secret = f"Leaky-Secret-{bad}USER root"
    doc = document()
    doc["accounts"][0]["password"] = secret
    doc["accounts"][1]["username"] = "alice" + bad

    message = import_error(tmp_path, doc)

    assert f"accounts[0].password: must not contain {rule}" in message
    assert "accounts[1].username:" in message
    assert "Leaky-Secret" not in message
    assert "USER root" not in message
    assert_nothing_imported()


@pytest.mark.django_db
def test_it_does_not_echo_a_weak_login_password(tmp_path):
    doc = document()
    doc["mailboxes"][0]["password"] = "qzx"

    message = import_error(tmp_path, doc)

    assert "mailboxes[0].password: This password is too short." in message
    assert "qzx" not in message
    assert_nothing_imported()


@pytest.mark.django_db
def test_it_requires_a_username_for_a_login_password(tmp_path):
    doc = {"mailboxes": [{"address": "carol@example.com", "password": LOGIN_PASSWORD}]}

    message = import_error(tmp_path, doc)

    assert "mailboxes[0].password: needs a username" in message
    assert_nothing_imported()


@pytest.mark.django_db
def test_it_creates_a_mailbox_without_a_login(tmp_path):
    out = run_import(tmp_path, {"mailboxes": [{"address": "carol@example.com"}]})

    assert "mailboxes: 1 created, 0 updated" in out
    assert Mailbox.objects.get().user is None
    assert not User.objects.exists()


@pytest.mark.django_db
def test_it_rejects_duplicates_within_the_file(tmp_path):
    doc = document()
    doc["mailboxes"].append({"address": "ALICE@example.com"})
    doc["mailboxes"].append({"address": "carol@example.com", "username": "bob"})
    doc["accounts"].append(dict(doc["accounts"][0], host="POP.remote.test"))

    message = import_error(tmp_path, doc)

    assert "mailboxes[2].address: duplicate of mailboxes[0]" in message
    assert "mailboxes[3].username: also used by mailboxes[1]" in message
    assert "accounts[3]: same owner, host and username as accounts[0]" in message
    assert_nothing_imported()


@pytest.mark.django_db
def test_it_refuses_a_login_that_belongs_to_another_mailbox(tmp_path):
    run_import(tmp_path, DOCUMENT)
    doc = {"mailboxes": [{"address": "carol@example.com", "username": "alice"}]}

    message = import_error(tmp_path, doc)

    assert "mailboxes[0].username: already the login of alice@example.com" in message
    assert not Mailbox.objects.filter(address="carol@example.com").exists()


@pytest.mark.django_db
def test_it_rejects_unknown_keys_and_sections(tmp_path):
    doc = document(extra=[])
    doc["mailboxes"][1]["pasword"] = "typo"
    doc["accounts"][0]["hostname"] = "x"

    message = import_error(tmp_path, doc)

    assert "extra: unknown key" in message
    assert "mailboxes[1].pasword: unknown key" in message
    assert "accounts[0].hostname: unknown key" in message
    assert_nothing_imported()


@pytest.mark.django_db
def test_it_reads_standard_input(tmp_path):
    out = io.StringIO()

    call_command("import_accounts", "-", stdin=io.StringIO(json.dumps(DOCUMENT)), stdout=out)

    assert "mailboxes: 2 created, 0 updated; accounts: 3 created, 0 updated" in out.getvalue()
    assert RemoteAccount.objects.count() == 3


@pytest.mark.django_db
def test_it_reports_invalid_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"mailboxes": [')

    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("import_accounts", str(path))


@pytest.mark.django_db
def test_it_writes_nothing_on_a_dry_run(tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(DOCUMENT))
    out = io.StringIO()

    call_command("import_accounts", str(path), "--dry-run", stdout=out)

    assert "accounts: 3 created, 0 updated" in out.getvalue()
    assert_nothing_imported()
