"""/api/v1/mailboxes/: a user's token reads their own mailbox only; staff add, change and
delete mailboxes with the admin's form and permissions."""

import pytest

from accounts.models import Mailbox
from tests.admin_helpers import staff
from tests.api_helpers import call, expired_token, member, superuser, token

pytestmark = pytest.mark.django_db

LIST = "/api/v1/mailboxes/"


def one(mailbox):
    return f"/api/v1/mailboxes/{mailbox.pk}"


@pytest.fixture
def people(django_user_model):
    return {"owner": member(django_user_model, "owner"),
            "other": member(django_user_model, "other"),
            "boss": superuser(django_user_model)}


def test_a_user_reads_only_their_own(client, people):
    owner, other = people["owner"], people["other"]

    body = call(client, "get", LIST, token(owner)).json()

    assert [m["address"] for m in body["results"]] == ["owner@local.test"]
    assert call(client, "get", one(other.mailbox), token(owner)).status_code == 404
    assert call(client, "get", one(owner.mailbox), token(owner)).json()["user"] == "owner"


def test_a_user_cannot_change_or_delete_even_their_own(client, people):
    owner = people["owner"]
    for method, body in (("patch", {"quota_mb": 1}), ("delete", None)):
        response = call(client, method, one(owner.mailbox), token(owner), body=body)
        assert response.status_code == 403
    assert call(client, "post", LIST, token(owner), body={"address": "x@local.test"}
                ).status_code == 403
    owner.mailbox.refresh_from_db()
    assert owner.mailbox.quota_mb == 0


def test_staff_add_change_and_delete(client, people):
    value = token(people["boss"], staff=True)

    made = call(client, "post", LIST, value, body={"address": "New@Local.test",
                                                   "aliases": ["a@local.test"]})
    assert made.status_code == 201, made.json()
    mailbox = Mailbox.objects.get(pk=made.json()["id"])
    assert (mailbox.address, mailbox.aliases) == ("new@local.test", ["a@local.test"])

    changed = call(client, "patch", one(mailbox), value, body={"quota_mb": 50})
    assert changed.status_code == 200
    mailbox.refresh_from_db()
    assert (mailbox.quota_mb, mailbox.aliases) == (50, ["a@local.test"])

    assert call(client, "delete", one(mailbox), value).status_code == 204
    assert not Mailbox.objects.filter(pk=mailbox.pk).exists()


def test_staff_get_the_admin_forms_messages(client, people):
    response = call(client, "post", LIST, token(people["boss"], staff=True),
                    body={"address": "../evil@local.test"})
    assert response.status_code == 400
    assert "address" in response.json()


def test_staff_need_the_admin_permission(client, django_user_model):
    viewer = staff(django_user_model, "viewer", "view_mailbox", app="accounts")
    mailbox = member(django_user_model, "owner").mailbox
    value = token(viewer, staff=True)

    assert call(client, "get", one(mailbox), value).status_code == 200
    refused = call(client, "patch", one(mailbox), value, body={"quota_mb": 5})
    assert refused.status_code == 403
    assert "accounts.change_mailbox" in refused.json()["detail"]
    assert call(client, "delete", one(mailbox), value).status_code == 403


def test_nobody_without_a_live_token(client, people):
    mailbox = people["owner"].mailbox
    for value in (None, token(people["owner"], revoked=True), expired_token(people["owner"])):
        assert call(client, "get", LIST, value).status_code == 401
        assert call(client, "get", one(mailbox), value).status_code == 401
