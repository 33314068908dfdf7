"""Every change through the API is in the audit trail with the token's user as the actor
and the client's address, as changes on the pages are; the password only as changed.
Making and revoking a token on the tokens page is recorded too."""

import json

import pytest
from auditlog.models import LogEntry

from api.models import ApiToken
from tests.api_helpers import PUBLIC_HOST, call, member, remote, superuser, token

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "new remote pässword 43"


def test_an_api_edit_is_recorded_with_the_tokens_user(client, django_user_model):
    owner = member(django_user_model, "owner")
    account = remote(owner)

    call(client, "patch", f"/api/v1/accounts/{account.pk}", token(owner),
         body={"name": "Work", "password": NEW_PASSWORD}, REMOTE_ADDR="198.51.100.7")

    entry = LogEntry.objects.get_for_object(account).filter(
        action=LogEntry.Action.UPDATE).last()
    assert (entry.actor, entry.remote_addr) == (owner, "198.51.100.7")
    assert entry.changes_dict["name"] == ["", "Work"]
    assert NEW_PASSWORD not in json.dumps([entry.changes, entry.serialized_data], default=str)


def test_api_adds_and_deletes_are_recorded(client, django_user_model):
    boss, owner = superuser(django_user_model), member(django_user_model, "owner")
    value = token(boss, staff=True)

    made = call(client, "post", "/api/v1/accounts/", value, body={
        "owner": owner.mailbox.pk, "host": PUBLIC_HOST, "port": 995, "username": "bob",
        "password": NEW_PASSWORD, "keep_policy": "keep"}).json()
    call(client, "delete", f"/api/v1/accounts/{made['id']}", value)

    entries = LogEntry.objects.filter(object_pk=str(made["id"]),
                                      content_type__model="remoteaccount")
    assert {(e.action, e.actor) for e in entries} == {
        (LogEntry.Action.CREATE, boss), (LogEntry.Action.DELETE, boss)}


def test_making_and_revoking_a_token_on_the_page_is_recorded(client, django_user_model):
    owner = member(django_user_model, "owner")
    client.force_login(owner)

    client.post("/mail/tokens/", {"name": "backup", "access": "read", "lifetime": "30"})
    row = ApiToken.objects.get()
    client.post(f"/mail/tokens/{row.pk}/revoke")

    entries = LogEntry.objects.get_for_object(row).order_by("timestamp")
    assert [(e.action, e.actor) for e in entries] == [
        (LogEntry.Action.CREATE, owner), (LogEntry.Action.UPDATE, owner)]
    assert "digest" not in json.dumps([e.changes for e in entries])


def test_api_requests_leave_no_audit_receivers_behind(client, django_user_model):
    from django.db.models.signals import pre_save

    owner = member(django_user_model, "owner")
    account, value = remote(owner), token(owner)
    call(client, "patch", f"/api/v1/accounts/{account.pk}", value, body={"name": "a"})
    before = len(pre_save.receivers)

    for name in ("b", "c", "d"):
        call(client, "patch", f"/api/v1/accounts/{account.pk}", value, body={"name": name})

    assert len(pre_save.receivers) == before
