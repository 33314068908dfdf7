"""export_accounts --with-secrets, then import_accounts into an empty database: every field back.

The comparison walks each model's fields, so a field added later that the
export does not carry fails here, unless it is listed below as deliberately
left out (with the reason).
"""

import datetime as dt
import io
import itertools
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Mailbox
from api import tokens
from api.models import ApiToken
from delivery.models import DeliveryTarget
from retrieval.models import (
    GlobalSettings,
    OAuthGrant,
    OAuthProvider,
    RemoteAccount,
    UserSettings,
)

pytestmark = pytest.mark.django_db

User = get_user_model()

# Fields the file deliberately does not carry, per model.
NOT_EXPORTED = {
    # The record's own number: a new database numbers its rows itself.
    "*": {"id"},
    # Set by the dispatcher while it runs, not configuration.
    GlobalSettings: {"dispatch_backlog"},
    # When the row was made here.
    Mailbox: {"created"},
    RemoteAccount: {
        # What the last runs found and when the next is due: history of this
        # installation, rebuilt by the first run after the import.
        "last_check", "last_status", "last_error", "next_check",
        "consecutive_failures", "failing_since", "last_error_kind",
        # A running session's lease and a queued check: meaningless elsewhere.
        "lease_token", "lease_expires", "pending_trigger",
        # A push waiting for its fetch: this installation's watcher saw it.
        "push_dirty", "push_seen",
        "created",
    },
    # The access token lives an hour; the refresh token gets a fresh one.
    OAuthGrant: {"access_token_encrypted", "access_expires"},
}
# Models the file deliberately does not carry at all, with the reason.
MODELS_NOT_EXPORTED = {
    # Personal API tokens are credentials of this installation's logins: a file that
    # travels (and an import elsewhere) must not carry working access. Only their digest
    # is stored, so they could not be exported anyway; people make new ones.
    ApiToken: "credentials, not configuration",
}
# Records point at each other by these, not by their numbers.
NATURAL_KEY = {
    Mailbox: lambda m: m.address,
    User: lambda u: u.username,
    DeliveryTarget: lambda t: t.name,
    OAuthProvider: lambda p: p.name,
    RemoteAccount: lambda a: (a.owner.address, a.host, a.username),
}
# Secrets are compared by what they decrypt to (a new encryption differs).
DECRYPT = {
    "password_encrypted": lambda obj: obj.get_password() if isinstance(obj, RemoteAccount)
    else obj.decrypted_password(),
    "client_secret_encrypted": lambda obj: obj.get_client_secret(),
    "refresh_token_encrypted": lambda obj: obj.refresh_token(),
}
MODELS = [GlobalSettings, OAuthProvider, DeliveryTarget, Mailbox, UserSettings, RemoteAccount,
          OAuthGrant]


def compared_fields(model):
    skip = NOT_EXPORTED["*"] | NOT_EXPORTED.get(model, set())
    return [f for f in model._meta.concrete_fields if f.name not in skip]


def value(obj, field):
    if field.name in DECRYPT:
        return DECRYPT[field.name](obj)
    if field.is_relation:
        related = getattr(obj, field.name)
        return None if related is None else NATURAL_KEY[field.related_model](related)
    return getattr(obj, field.attname)


def row_key(obj):
    if isinstance(obj, UserSettings):
        return obj.mailbox.address
    if isinstance(obj, OAuthGrant):
        return value(obj, obj._meta.get_field("account")) or obj.target.name
    return NATURAL_KEY.get(type(obj), lambda o: "the one")(obj)


def state():
    """{model: {row key: {field: value}}} of everything the file should carry."""
    return {
        model: {
            row_key(obj): {f.name: value(obj, f) for f in compared_fields(model)}
            for obj in model.objects.all()
        }
        for model in MODELS
    }


def build_everything():
    gs = GlobalSettings.load()
    for name, setting in {
        "connection_retries": 5, "retry_seconds": 11, "timeout_seconds": 21,
        "messages_per_download": 100, "duplicate_check": False, "poll_minutes": 3,
        "max_concurrent_downloads": 7, "max_sessions_per_host": 2, "parse_headers": False,
        "header_fields": ["X-Original-To", "To"], "accepted_domains": ["example.com"],
        "reroute_unknown": True, "max_recipients": 9, "service_running": False,
        "restrict_all_accounts": True, "allowed_internal_networks": ["10.1.2.0/24"],
        "history_days": 45, "alert_after_minutes": 30, "alert_owners": False,
        "alert_admins": False, "allowed_ports": [995, 4995], "ca_file": "/etc/popadmin/ca.pem",
    }.items():
        setattr(gs, name, setting)
    gs.save()

    google = OAuthProvider(
        name="Google", preset="google", client_id="g-client", scopes="https://mail.google.com/",
        refresh_token_days=7, warn_days=3,
    )
    google.apply_preset()
    google.set_client_secret("g-client-secret")
    google.save()
    custom = OAuthProvider.objects.create(
        name="Own IdP", preset="custom", tenant="t-1", client_id="c-client",
        authorization_endpoint="https://idp.example/authorize",
        token_endpoint="https://idp.example/token", device_endpoint="https://idp.example/dev",
        revocation_endpoint="https://idp.example/revoke",
        introspection_endpoint="https://idp.example/introspect", scopes="mail",
    )

    lmtp = DeliveryTarget(
        name="Dovecot LMTP", kind="lmtp", is_default=True, socket_path="/run/dovecot/lmtp",
        security="tls", verify_tls=False, username="lmtp-user", recipient_form="localpart",
        timeout_seconds=30, webmail_url="https://webmail.example.test/",
    )
    lmtp.set_password("lmtp-secret")
    lmtp.save()
    gmail = DeliveryTarget.objects.create(
        name="Gmail", kind="imap", host="imap.gmail.test", port=1993, security="tls",
        username="archive@gmail.test", auth_method="xoauth2",
    )
    grant = OAuthGrant(
        target=gmail, provider=google, scopes="https://mail.google.com/",
        connected_as="archive@gmail.test", connected_at=timezone.now() - dt.timedelta(days=1),
        refresh_expires=timezone.now() + dt.timedelta(days=6),
    )
    grant.set_tokens("rt-target", "at-target")
    grant.save()

    alice = Mailbox.objects.create(
        address="alice@example.com", user=User.objects.create_user("alice", password="Pw-1x!a"),
        aliases=["a@example.com"], quota_mb=250, is_postmaster=True, language="de",
        delivery_target=gmail,
    )
    UserSettings.objects.create(
        mailbox=alice, connection_retries=2, retry_seconds=5, timeout_seconds=15,
        messages_per_download=10, duplicate_check=False, poll_minutes=20,
        alert_after_minutes=90,
    )
    bob = Mailbox.objects.create(address="bob@example.com")

    kinds = itertools.product(["pop3", "imap"], ["password", "xoauth2", "oauthbearer"])
    keeps = itertools.cycle(["delete", "keep", "keep_days"])
    for i, ((protocol, method), keep) in enumerate(zip(kinds, keeps, strict=False)):
        account = RemoteAccount(
            owner=alice if i % 2 else bob, name=f"Account {i}", protocol=protocol,
            security=["tls", "starttls", "none"][i % 3], host=f"mail{i}.remote.test",
            port=1000 + i, username=f"user{i}", auth_method=method, verify_tls=bool(i % 2),
            keep_policy=keep, keep_days=3 + i, mode="catchall" if i == 3 else "single",
            folders=["INBOX", "Lists/Work"] if protocol == "imap" else [],
            target_folder=f"Remote/{i}", folder_map={"INBOX": "Old ISP", "Spam": "Junk"},
            delivery_target=[lmtp, gmail, None][i % 3], poll_minutes=5 + i,
            max_message_mb=i, enabled=i != 2, push=i != 3, network_restricted=i in (1, 4),
            created_by_user=i == 4,
        )
        if method == "password":
            account.set_password(f"remote-secret-{i}")
        account.save()
        if method != "password" and i != 5:  # the last one was never connected
            grant = OAuthGrant(
                account=account, provider=[google, custom][i % 2], scopes=f"scope-{i}",
                connected_as=f"user{i}@remote.test",
                connected_at=timezone.now() - dt.timedelta(hours=i),
                refresh_expires=timezone.now() + dt.timedelta(days=i) if i % 2 else None,
                expired=i == 4,
            )
            grant.set_tokens(f"rt-account-{i}", f"at-account-{i}")
            grant.save()


def export(*args):
    out = io.StringIO()
    call_command("export_accounts", *args, stdout=out)
    return out.getvalue()


def empty_the_database():
    OAuthGrant.objects.all().delete()
    RemoteAccount.objects.all().delete()
    UserSettings.objects.all().delete()
    Mailbox.objects.all().delete()
    DeliveryTarget.objects.all().delete()
    OAuthProvider.objects.all().delete()
    User.objects.all().delete()
    GlobalSettings.objects.all().delete()


def import_file(tmp_path, text):
    path = tmp_path / "export.json"
    path.write_text(text)
    out = io.StringIO()
    call_command("import_accounts", str(path), stdout=out)
    return out.getvalue()


def test_every_field_comes_back_in_an_empty_database(tmp_path):
    build_everything()
    before = state()
    text = export("--with-secrets")
    empty_the_database()

    import_file(tmp_path, text)

    after = state()
    for model in MODELS:
        assert sorted(after[model], key=str) == sorted(before[model], key=str), model
        for key, fields in before[model].items():
            for name, was in fields.items():
                assert after[model][key][name] == was, f"{model.__name__} {key}: {name}"


def test_the_fixture_sets_every_compared_field_away_from_its_default():
    # Otherwise a field missing from the export would come back as its default
    # and still compare equal.
    build_everything()
    rows = state()
    for model in MODELS:
        for field in compared_fields(model):
            default = None if field.is_relation else field.get_default()
            values = [fields[field.name] for fields in rows[model].values()]
            assert any(v != default for v in values), f"{model.__name__}.{field.name}"


def test_api_tokens_stay_behind(tmp_path):
    build_everything()
    row, value = tokens.create(User.objects.get(username="alice"), "provisioning script",
                               writes=True)

    text = export("--with-secrets")

    assert ApiToken in MODELS_NOT_EXPORTED
    for trace in (value, row.prefix, row.digest, "provisioning script"):
        assert trace not in text


def test_an_imported_grant_has_its_refresh_token_encrypted_and_no_access_token(tmp_path):
    build_everything()
    text = export("--with-secrets")
    empty_the_database()

    import_file(tmp_path, text)

    grant = OAuthGrant.objects.get(account__username="user1")
    assert grant.refresh_token() == "rt-account-1"
    assert "rt-account-1" not in grant.refresh_token_encrypted
    assert grant.access_token_encrypted == "" and grant.access_expires is None


def test_a_second_import_of_the_same_file_writes_nothing(tmp_path):
    build_everything()
    text = export("--with-secrets")
    import_file(tmp_path, text)
    tokens = sorted(OAuthGrant.objects.values_list("refresh_token_encrypted", flat=True))
    passwords = sorted(DeliveryTarget.objects.values_list("password_encrypted", flat=True))

    import_file(tmp_path, text)

    assert sorted(OAuthGrant.objects.values_list("refresh_token_encrypted", flat=True)) == tokens
    assert sorted(DeliveryTarget.objects.values_list("password_encrypted", flat=True)) == passwords
    assert export("--with-secrets") == text


def test_without_secrets_no_secret_leaves(tmp_path):
    build_everything()

    text = export()

    for secret in ("rt-account-1", "rt-target", "g-client-secret", "lmtp-secret",
                   "remote-secret-0", "at-account-1"):
        assert secret not in text
    data = json.loads(text)
    for section in ("oauth_providers", "delivery_targets", "accounts"):
        for entry in data[section]:
            assert not {"password", "client_secret", "oauth"} & set(entry), entry
    # What protects and routes an account is there all the same.
    restricted = [a["username"] for a in data["accounts"] if a["network_restricted"]]
    assert sorted(restricted) == ["user1", "user4"]
    routes = {a["username"]: a["delivery_target"] for a in data["accounts"]}
    assert routes["user0"] == "Dovecot LMTP" and routes["user2"] is None
    assert {a["auth_method"] for a in data["accounts"]} == {"password", "xoauth2", "oauthbearer"}
