import io
import json
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Mailbox
from retrieval.models import GlobalSettings, RemoteAccount

User = get_user_model()

REMOTE_PASSWORD = "pa ss:w\u00f6rd\"'"



@pytest.fixture
def setup(db):
    gs = GlobalSettings.load()
    gs.accepted_domains = ["example.com"]
    gs.reroute_unknown = True
    gs.poll_minutes = 4
    gs.save()
    alice_login = User.objects.create_user("alice", password="Login-Secret-99")
    alice = Mailbox.objects.create(
        address="alice@example.com",
        user=alice_login,
        aliases=["a@example.com"],
        quota_mb=250,
        is_postmaster=True,
    )
    bob = Mailbox.objects.create(address="bob@example.com")
    imap = RemoteAccount(
        owner=alice,
        name="Work",
        protocol="imap",
        security="starttls",
        host="imap.remote.test",
        port=1143,
        username="alice@remote",
        verify_tls=False,
        keep_policy="keep_days",
        keep_days=3,
        folders=["INBOX", "Archive/2024"],
        mode="catchall",
        target_folder="Work",
        poll_minutes=15,
        max_message_mb=20,
        enabled=False,
    )
    imap.set_password(REMOTE_PASSWORD)
    imap.save()
    pop = RemoteAccount(owner=bob, host="pop.remote.test", username="bob")
    pop.set_password("second-remote-secret")
    pop.save()
    return {"alice": alice, "bob": bob, "imap": imap, "pop": pop}


def export(*args):
    out = io.StringIO()
    call_command("export_accounts", *args, stdout=out)
    return out.getvalue()


def password_keys(data):
    return [
        (section, i)
        for section in ("mailboxes", "accounts")
        for i, entry in enumerate(data[section])
        if "password" in entry
    ]


def test_it_exports_without_any_password_key(setup):
    text = export()
    data = json.loads(text)

    assert password_keys(data) == []
    assert "second-remote-secret" not in text
    assert "Login-Secret-99" not in text
    assert setup["alice"].user.password not in text
    assert [m["address"] for m in data["mailboxes"]] == ["alice@example.com", "bob@example.com"]
    alice = data["mailboxes"][0]
    assert alice == {
        "address": "alice@example.com",
        "username": "alice",
        "aliases": ["a@example.com"],
        "quota_mb": 250,
        "postmaster": True,
        "delivery_target": None,
    }
    assert "username" not in data["mailboxes"][1]
    imap = data["accounts"][0]
    assert imap["owner"] == "alice@example.com"
    assert (imap["protocol"], imap["security"], imap["port"]) == ("imap", "starttls", 1143)
    assert (imap["keep"], imap["keep_days"], imap["mode"]) == ("keep_days", 3, "catchall")
    assert imap["folders"] == ["INBOX", "Archive/2024"]
    assert data["accounts"][1]["port"] is None
    assert data["settings"]["accepted_domains"] == ["example.com"]
    assert data["settings"]["poll_minutes"] == 4


def test_it_includes_remote_passwords_with_secrets(setup):
    data = json.loads(export("--with-secrets"))

    assert password_keys(data) == [("accounts", 0), ("accounts", 1)]
    assert data["accounts"][0]["password"] == REMOTE_PASSWORD
    assert data["accounts"][1]["password"] == "second-remote-secret"


def test_it_exports_default_settings_without_creating_them(db):
    data = json.loads(export())

    assert data == {
        "settings": data["settings"],
        "oauth_providers": [],
        "delivery_targets": [],
        "mailboxes": [],
        "accounts": [],
    }
    assert data["settings"]["header_fields"]
    assert not GlobalSettings.objects.exists()


def test_it_writes_a_private_file(setup, tmp_path):
    target = tmp_path / "backup.json"
    target.write_text("old")
    target.chmod(0o644)

    out = export("--with-secrets", "--output", str(target))

    assert "2 mailboxes and 2 accounts" in out
    assert "second-remote-secret" not in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["accounts"][1]["password"] == "second-remote-secret"


def test_it_fails_when_a_stored_password_cannot_be_decrypted(setup):
    RemoteAccount.objects.filter(pk=setup["pop"].pk).update(password_encrypted="garbage")

    with pytest.raises(CommandError, match=r"accounts\[1\].*cannot be decrypted"):
        export("--with-secrets")
    assert password_keys(json.loads(export())) == []


def test_it_round_trips_into_an_empty_database(setup, tmp_path):
    first = export("--with-secrets")
    RemoteAccount.objects.all().delete()
    Mailbox.objects.all().delete()
    User.objects.all().delete()
    GlobalSettings.objects.all().delete()
    path = tmp_path / "export.json"
    path.write_text(first)

    out = io.StringIO()
    call_command("import_accounts", str(path), stdout=out)

    assert "mailboxes: 2 created, 0 updated; accounts: 2 created, 0 updated" in out.getvalue()
    assert export("--with-secrets") == first
    imap = RemoteAccount.objects.get(host="imap.remote.test")
    assert imap.get_password() == REMOTE_PASSWORD
    assert REMOTE_PASSWORD not in imap.password_encrypted
    # Login passwords are not exported: the login comes back without one.
    login = Mailbox.objects.get(address="alice@example.com").user
    assert login.username == "alice"
    assert not login.has_usable_password()


def test_it_round_trips_onto_itself_without_changes(setup, tmp_path):
    path = tmp_path / "export.json"
    path.write_text(export("--with-secrets"))
    tokens = list(RemoteAccount.objects.order_by("pk").values_list("password_encrypted"))

    out = io.StringIO()
    call_command("import_accounts", str(path), stdout=out)

    assert "mailboxes: 0 created, 2 updated; accounts: 0 created, 2 updated" in out.getvalue()
    assert list(RemoteAccount.objects.order_by("pk").values_list("password_encrypted")) == tokens
