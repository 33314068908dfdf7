"""Every user-page URL, tried by the owner, another user, an anonymous visitor and staff.

Accounts belong to their owner's mailbox: anyone else (staff too: they use
the admin) gets a 404, as if the account did not exist.
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval.models import RemoteAccount
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def no_real_checks(monkeypatch):
    from retrieval import dispatcher

    monkeypatch.setattr(dispatcher, "request_check", lambda ids, trigger: [])


def member(django_user_model, name, **flags):
    user = django_user_model.objects.create_user(name, password="x", **flags)
    group, _ = Group.objects.get_or_create(name="self-service")
    GroupPolicy.objects.get_or_create(group=group, defaults={
        "allow_manual_check": True, "may_manage_own_accounts": True})
    user.groups.add(group)
    make_mailbox(f"{name}@local.test", user=user)
    return user


@pytest.fixture
def people(django_user_model):
    owner = member(django_user_model, "owner")
    account = RemoteAccount(owner=owner.mailbox, host="pop.example.test", username="a")
    account.set_password("secret")
    account.save()
    return {
        "owner": owner,
        "other": member(django_user_model, "other"),
        "staff": member(django_user_model, "staff", is_staff=True),
        "anonymous": None,
        "account": account,
    }


# (url name, method, takes the account id, status for the owner)
ACCOUNT_URLS = [
    ("mail-progress", "get", 200),
    ("mail-account-runs", "get", 200),
    ("mail-account-edit", "get", 200),
    ("mail-account-delete", "get", 200),
    ("mail-check-account", "post", 302),
    ("mail-account-toggle", "post", 302),
]
OWN_URLS = [
    ("mail-accounts", "get", 200),
    ("mail-home", "get", 200),
    ("mail-account-add", "get", 200),
    ("mail-check-all", "post", 302),
]


def call(client, user, name, method, args=()):
    if user is not None:
        client.force_login(user)
    return getattr(client, method)(reverse(name, args=args))


@pytest.mark.parametrize("name,method,owner_status", ACCOUNT_URLS)
@pytest.mark.parametrize("who", ["owner", "other", "staff", "anonymous"])
def test_account_urls(client, people, who, name, method, owner_status):
    account = people["account"]

    response = call(client, people[who], name, method, [account.pk])

    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    elif who == "owner":
        assert response.status_code == owner_status
    else:
        assert response.status_code == 404
    account.refresh_from_db()
    assert account.enabled is (who != "owner" or name != "mail-account-toggle")


@pytest.mark.parametrize("name,method,status", OWN_URLS)
@pytest.mark.parametrize("who", ["owner", "other", "staff", "anonymous"])
def test_own_urls(client, people, who, name, method, status):
    response = call(client, people[who], name, method)

    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
        return
    assert response.status_code == status
    if name == "mail-accounts":
        listed = "pop.example.test" in response.content.decode()
        assert listed is (who == "owner")


def test_delete_by_another_user_leaves_the_account(client, people):
    account = people["account"]
    for who in ("other", "staff"):
        client.force_login(people[who])
        assert client.post(reverse("mail-account-delete", args=[account.pk])).status_code == 404
    assert RemoteAccount.objects.filter(pk=account.pk).exists()


@pytest.mark.parametrize("who,where", [
    ("anonymous", "/mail/"), ("owner", "/mail/"), ("staff", "/dashboard/"),
])
def test_home_sends_each_to_their_page(client, people, who, where):
    response = call(client, people[who], "home", "get")
    assert response.status_code == 302 and response["Location"] == where


def test_the_login_page_names_the_product(client):
    text = client.get(reverse("login")).content.decode()
    assert '<p class="entry-brand">popadmin</p>' in text
    assert "<title>Log in · popadmin</title>" in text
    assert "<h1>Log in to your mail</h1>" in text
    assert 'href="#main"' in text  # the skip link
