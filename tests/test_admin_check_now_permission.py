"""The admin's "Check now" action starts a retrieval: it takes the change permission on
remote accounts, not merely the view permission."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from retrieval import dispatcher
from retrieval.models import RemoteAccount
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:retrieval_remoteaccount_changelist")


@pytest.fixture
def requested(monkeypatch):
    calls = []

    def record(ids, trigger):
        calls.append(list(ids))
        return list(ids)

    monkeypatch.setattr(dispatcher, "request_check", record)
    return calls


@pytest.fixture
def account():
    account = RemoteAccount(owner=make_mailbox(), host="pop.example.test", username="alice")
    account.set_password("remote password")
    account.save()
    return account


def staff(django_user_model, name, *codenames):
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="retrieval", codename__in=codenames))
    return user


def run_action(client, account):
    return client.post(CHANGELIST, {"action": "check_now", "_selected_action": [account.pk],
                                    "index": "0"})


def test_a_view_only_staff_user_can_neither_see_nor_run_check_now(
        client, django_user_model, account, requested):
    client.force_login(staff(django_user_model, "viewer", "view_remoteaccount"))
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b'value="check_now"' not in page.content

    response = run_action(client, account)
    # The post is not taken as an action: the list comes back and nothing is queued.
    assert response.status_code == 200
    assert requested == []


def test_a_staff_user_with_the_change_permission_runs_it(
        client, django_user_model, account, requested):
    client.force_login(staff(django_user_model, "changer", "view_remoteaccount",
                             "change_remoteaccount"))
    assert b'value="check_now"' in client.get(CHANGELIST).content
    response = run_action(client, account)
    assert response.status_code == 302
    assert requested == [[account.pk]]


def test_a_superuser_runs_it(admin_client, account, requested):
    response = run_action(admin_client, account)
    assert response.status_code == 302
    assert requested == [[account.pk]]
