# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""import_accounts creates OAuth2 accounts: from a refresh token the operator holds, or from an
export with secrets; either way the account signs in at a real Dovecot that checks the token."""

import io
import json
import secrets

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Mailbox
from delivery.models import DeliveryTarget
from retrieval import engine
from retrieval.models import OAuthGrant, OAuthProvider, RemoteAccount, Run
from retrieval.oauth.tokens import needs_sign_in
from tests.factories import local_messages, make_account
from tests.oauth_helpers import oauth_dovecot, oauth_server, provider, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def trust_oauth_dovecot(settings, oauth_dovecot):
    settings.POPADMIN_CA_FILE = str(oauth_dovecot.ca_file)


def run_import(tmp_path, doc):
    path = tmp_path / "in.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    out = io.StringIO()
    call_command("import_accounts", str(path), stdout=out)
    return out.getvalue()


def export(*args):
    out = io.StringIO()
    call_command("export_accounts", *args, stdout=out)
    return out.getvalue()


def account_entry(oauth_dovecot, user, protocol="pop3", method="xoauth2", owner="me@local.test",
                  **extra):
    port = oauth_dovecot.pop3s_port if protocol == "pop3" else oauth_dovecot.imaps_port
    return {"owner": owner, "protocol": protocol, "security": "tls",
            "host": "localhost", "port": port, "username": user, "auth_method": method, **extra}


def operator_token(oauth_server, user):
    """A refresh token issued outside popadmin (say by the provider's own tool)."""
    token = "rt-" + secrets.token_urlsafe(24)
    with oauth_server.lock:
        oauth_server.refresh_tokens[token] = user
    return token


@pytest.mark.parametrize("protocol,method", [("pop3", "xoauth2"), ("imap", "oauthbearer")])
def test_it_creates_an_account_from_a_refresh_token_the_operator_holds(
    tmp_path, provider, oauth_dovecot, oauth_server, protocol, method
):
    user = f"o{secrets.token_hex(4)}"
    oauth_dovecot.deliver_many(user, 2)
    token = operator_token(oauth_server, user)
    # Its own mailbox: local mail is kept on disk from test to test.
    owner = f"{user}@local.test"
    doc = {"mailboxes": [{"address": owner}],
           "accounts": [account_entry(oauth_dovecot, user, protocol, method, owner,
                                      oauth={"provider": "Test IdP", "refresh_token": token})]}

    out = run_import(tmp_path, doc)

    assert token not in out
    account = RemoteAccount.objects.get(username=user)
    grant = OAuthGrant.objects.get(account=account)
    assert grant.refresh_token() == token and token not in grant.refresh_token_encrypted
    assert grant.provider == provider and grant.connected_as == user
    assert not needs_sign_in(account)
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert run.status == Run.Status.OK, run.error
    assert run.delivered == 2 and len(local_messages(account.owner)) == 2


def test_an_exported_grant_signs_in_again_in_an_empty_database(
    tmp_path, client, provider, oauth_dovecot, oauth_server
):
    client.force_login(User.objects.create_superuser("ops", "ops@local.test", "x"))
    user = f"o{secrets.token_hex(4)}"
    account = make_account(oauth_dovecot, user, "", protocol="imap", auth_method="oauthbearer",
                           owner=Mailbox.objects.create(address=f"{user}@local.test"))
    sign_in(client, account, provider)
    text = export("--with-secrets")
    OAuthGrant.objects.all().delete()
    RemoteAccount.objects.all().delete()
    OAuthProvider.objects.all().delete()
    Mailbox.objects.all().delete()
    oauth_dovecot.deliver_many(user, 1)

    run_import(tmp_path, text)

    account = RemoteAccount.objects.get(username=user)
    assert OAuthProvider.objects.get().get_client_secret() == oauth_server.client_secret
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert run.status == Run.Status.OK, run.error
    assert run.delivered == 1


def test_a_new_oauth_account_without_a_grant_needs_no_password(tmp_path, oauth_dovecot):
    doc = {"mailboxes": [{"address": "me@local.test"}],
           "accounts": [account_entry(oauth_dovecot, "someone")]}

    run_import(tmp_path, doc)

    account = RemoteAccount.objects.get()
    assert account.auth_method == "xoauth2" and not account.has_password
    assert needs_sign_in(account)


def test_it_refuses_a_grant_it_cannot_use_and_writes_nothing(tmp_path, provider, oauth_dovecot):
    doc = {"mailboxes": [{"address": "me@local.test"}], "accounts": [
        account_entry(oauth_dovecot, "a", method="password", password="pw",
                      oauth={"provider": "Test IdP", "refresh_token": "rt-1"}),
        account_entry(oauth_dovecot, "b", oauth={"provider": "Nobody", "refresh_token": "rt-2"}),
        account_entry(oauth_dovecot, "c", oauth={"refresh_token": "rt-3", "expired": "no"}),
        account_entry(oauth_dovecot, "d", delivery_target="Nowhere"),
    ]}

    with pytest.raises(CommandError) as caught:
        run_import(tmp_path, doc)

    message = str(caught.value)
    assert ("accounts[0].oauth: only for an OAuth2 sign-in (auth_method xoauth2 or oauthbearer)"
            in message)
    assert "accounts[1].oauth.provider: no OAuth2 provider Nobody in the file or the database" \
        in message
    assert "accounts[2].oauth.expired: must be true or false" in message
    assert "accounts[2].oauth.provider: required" in message
    assert ("accounts[3].delivery_target: no delivery target Nowhere in the file or the database"
            in message)
    for token in ("rt-1", "rt-2", "rt-3"):
        assert token not in message
    assert not Mailbox.objects.exists() and not OAuthGrant.objects.exists()


def test_a_target_and_its_grant_come_from_the_file(tmp_path, provider):
    doc = {"delivery_targets": [{
        "name": "Archive", "kind": "imap", "host": "imap.archive.test", "username": "arch",
        "auth_method": "xoauth2", "oauth": {"provider": "Test IdP", "refresh_token": "rt-t"},
    }], "mailboxes": [{"address": "me@local.test", "delivery_target": "Archive"}]}

    out = run_import(tmp_path, doc)

    assert "delivery targets: 1 created, 0 updated" in out
    target = DeliveryTarget.objects.get()
    assert Mailbox.objects.get().delivery_target == target
    assert OAuthGrant.objects.get(target=target).refresh_token() == "rt-t"
