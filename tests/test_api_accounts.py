"""/api/v1/accounts/: a user's token reads and changes their own accounts through the
self-service form, a staff token every account through the admin's form; another user
sees nothing of them, nobody without a live token anything, and the password is never
returned."""

import pytest

from retrieval import dispatcher
from retrieval.models import RemoteAccount
from tests.api_helpers import (
    PUBLIC_HOST,
    REMOTE_PASSWORD,
    call,
    expired_token,
    member,
    remote,
    superuser,
    token,
)

pytestmark = pytest.mark.django_db

LIST, ONE = "/api/v1/accounts/", "/api/v1/accounts/{}"
NEW = {"protocol": "pop3", "security": "tls", "host": PUBLIC_HOST, "port": 995,
       "username": "bob", "password": REMOTE_PASSWORD, "keep_policy": "keep"}


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(dispatcher, "enqueue_fetch", lambda pk, trigger, task_id=None: None)


@pytest.fixture
def owner(django_user_model):
    return member(django_user_model, "owner")


@pytest.fixture
def other(django_user_model):
    return member(django_user_model, "other")


@pytest.fixture
def boss(django_user_model):
    return superuser(django_user_model)


def test_it_lists_only_the_owners_accounts_without_secrets(client, owner, other):
    mine, theirs = remote(owner), remote(other, username="carol")

    response = call(client, "get", LIST, token(owner, writes=False))

    assert response.status_code == 200
    body = response.json()
    assert [a["id"] for a in body["results"]] == [mine.pk]
    assert body["count"] == 1
    assert body["results"][0]["has_password"] is True
    assert REMOTE_PASSWORD not in response.content.decode()
    assert "password_encrypted" not in response.content.decode()
    assert call(client, "get", ONE.format(theirs.pk), token(owner)).status_code == 404


def test_staff_with_a_staff_token_see_every_account(client, owner, other, boss):
    accounts = {remote(owner).pk, remote(other, username="carol").pk}

    everyone = call(client, "get", LIST, token(boss, staff=True)).json()
    own_only = call(client, "get", LIST, token(boss)).json()

    assert {a["id"] for a in everyone["results"]} == accounts
    assert own_only["results"] == []  # without the staff scope: their own, like anyone


def test_a_staff_token_without_the_admin_permission_is_refused(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)

    response = call(client, "get", LIST, token(clerk, staff=True))

    assert response.status_code == 403
    assert "retrieval.view_remoteaccount" in response.json()["detail"]


def test_only_staff_may_make_a_staff_token(owner):
    with pytest.raises(ValueError):
        token(owner, staff=True)


@pytest.mark.parametrize("method", ["get", "post"])
def test_nobody_without_a_live_token_gets_anything(client, owner, method):
    account = remote(owner)
    for value in (None, "pa_nothing_real", token(owner, revoked=True), expired_token(owner)):
        for path in (LIST, ONE.format(account.pk)):
            response = call(client, method, path, value, body=NEW if method == "post" else None)
            assert response.status_code == 401, (value, path)
            assert response["WWW-Authenticate"].startswith("Bearer")
    assert RemoteAccount.objects.count() == 1


def test_revoked_and_expired_tokens_say_so(client, owner):
    revoked = call(client, "get", LIST, token(owner, revoked=True)).json()["detail"]
    expired = call(client, "get", LIST, expired_token(owner)).json()["detail"]
    assert "revoked" in revoked
    assert "expired" in expired


def test_the_owner_adds_an_account_restricted_and_verified(client, owner):
    response = call(client, "post", LIST, token(owner), body={**NEW,
                    "network_restricted": False, "verify_tls": False})

    assert response.status_code == 400  # the self-service form has no such fields
    assert set(response.json()) == {"network_restricted", "verify_tls"}

    response = call(client, "post", LIST, token(owner), body=NEW)
    assert response.status_code == 201, response.json()
    account = RemoteAccount.objects.get(pk=response.json()["id"])
    assert account.owner == owner.mailbox
    assert (account.network_restricted, account.verify_tls, account.created_by_user) == (
        True, True, True)
    assert account.get_password() == REMOTE_PASSWORD
    assert REMOTE_PASSWORD not in response.content.decode()


def test_a_read_only_token_changes_nothing(client, owner):
    account = remote(owner)
    reader = token(owner, writes=False)

    for method, path, body in [("post", LIST, NEW), ("patch", ONE.format(account.pk),
                                                      {"name": "x"}),
                               ("delete", ONE.format(account.pk), None)]:
        response = call(client, method, path, reader, body=body)
        assert response.status_code == 403
        assert "read-only" in response.json()["detail"]
    account.refresh_from_db()
    assert account.name == ""
    assert RemoteAccount.objects.count() == 1


def test_an_edit_keeps_the_password_and_omitted_fields(client, owner):
    account = remote(owner, name="old", poll_minutes=30, folders=["INBOX"], protocol="imap",
                     port=993)

    response = call(client, "patch", ONE.format(account.pk), token(owner), body={"name": "new"})

    assert response.status_code == 200, response.json()
    account.refresh_from_db()
    assert (account.name, account.poll_minutes, account.folders) == ("new", 30, ["INBOX"])
    assert account.get_password() == REMOTE_PASSWORD
    assert response.json()["status"]["result"] == ""


def test_the_groups_minimum_interval_holds_as_on_the_page(client, django_user_model):
    user = member(django_user_model, "slow", min_poll=15)
    account = remote(user)

    response = call(client, "patch", ONE.format(account.pk), token(user),
                    body={"poll_minutes": 5})

    assert response.status_code == 400
    assert response.json() == {"poll_minutes": [
        "Your group allows checks every 15 minutes at most often."]}


def test_a_changed_server_needs_the_password_again(client, owner):
    account = remote(owner)

    response = call(client, "patch", ONE.format(account.pk), token(owner),
                    body={"host": "93.184.215.15"})

    assert response.status_code == 400
    assert "type the password again" in response.json()["password"][0]


def test_unknown_fields_are_refused_not_ignored(client, owner):
    account = remote(owner)
    response = call(client, "patch", ONE.format(account.pk), token(owner), body={"nmae": "x"})
    assert response.status_code == 400
    assert response.json() == {"nmae": ["No such field here."]}


def test_users_whose_group_forbids_self_service_are_refused(client, django_user_model):
    user = member(django_user_model, "plain", manage=False)
    account = remote(user)

    response = call(client, "post", LIST, token(user), body=NEW)
    assert response.status_code == 403
    assert "does not let you add or edit" in response.json()["detail"]
    assert call(client, "delete", ONE.format(account.pk), token(user)).status_code == 403
    assert call(client, "get", ONE.format(account.pk), token(user)).status_code == 200


def test_another_user_cannot_change_or_delete(client, owner, other):
    account = remote(owner)
    theirs = token(other)
    assert call(client, "patch", ONE.format(account.pk), theirs,
                body={"name": "x"}).status_code == 404
    assert call(client, "delete", ONE.format(account.pk), theirs).status_code == 404
    assert RemoteAccount.objects.filter(pk=account.pk, name="").exists()


def test_the_owner_deletes(client, owner):
    account = remote(owner)
    assert call(client, "delete", ONE.format(account.pk), token(owner)).status_code == 204
    assert not RemoteAccount.objects.filter(pk=account.pk).exists()


def test_staff_add_for_any_mailbox_with_the_admins_fields(client, owner, boss):
    response = call(client, "post", LIST, token(boss, staff=True), body={
        **NEW, "owner": owner.mailbox.pk, "network_restricted": False, "verify_tls": False,
        "folder_map": {"Spam": "Junk"}, "protocol": "imap", "port": 993})

    assert response.status_code == 201, response.json()
    account = RemoteAccount.objects.get(pk=response.json()["id"])
    assert account.owner == owner.mailbox
    assert (account.network_restricted, account.verify_tls) == (False, False)
    assert account.folder_map == {"Spam": "Junk"}


def test_staff_change_and_delete_any_account(client, owner, boss):
    account = remote(owner)
    staff = token(boss, staff=True)

    response = call(client, "patch", ONE.format(account.pk), staff, body={"enabled": False})
    assert response.status_code == 200, response.json()
    account.refresh_from_db()
    assert account.enabled is False
    assert call(client, "delete", ONE.format(account.pk), staff).status_code == 204
