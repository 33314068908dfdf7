"""A new install: the default group, new users joining it, the getting-started panel,
the product's name, and the banner while the service is stopped."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import GroupPolicy
from accounts.policy import DEFAULT_GROUP, allowed
from retrieval.models import GlobalSettings
from tests.admin_helpers import make_remote, staff

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_default_group_lets_users_check_now_and_on_web_login():
    policy = GroupPolicy.objects.get(group__name=DEFAULT_GROUP)
    assert policy.allow_manual_check and policy.allow_web_login_trigger
    assert not policy.may_manage_own_accounts
    assert not (policy.allow_pop3_login_trigger or policy.allow_imap_login_trigger)


def test_a_user_added_in_the_admin_joins_the_default_group(admin_client, django_user_model):
    response = admin_client.post(reverse("admin:auth_user_add"), {
        "username": "newbie", "password1": "a long enough pass 42",
        "password2": "a long enough pass 42", "usable_password": "true"})

    assert response.status_code == 302
    user = django_user_model.objects.get(username="newbie")
    assert list(user.groups.values_list("name", flat=True)) == [DEFAULT_GROUP]
    assert allowed(user, "manual_check") and allowed(user, "web_login")


def test_a_removed_default_group_is_not_recreated(admin_client, django_user_model):
    Group.objects.filter(name=DEFAULT_GROUP).delete()
    admin_client.post(reverse("admin:auth_user_add"), {
        "username": "newbie", "password1": "a long enough pass 42",
        "password2": "a long enough pass 42", "usable_password": "true"})
    assert not django_user_model.objects.get(username="newbie").groups.exists()


def test_it_shows_the_getting_started_panel_until_an_account_exists(admin_client):
    body = admin_client.get(INDEX).content.decode()
    assert "Getting started" in body
    assert reverse("admin:accounts_mailbox_add") in body
    assert reverse("admin:retrieval_remoteaccount_add") in body
    assert f"new users join the group “{DEFAULT_GROUP}”" in body

    make_remote()
    assert "Getting started" not in admin_client.get(INDEX).content.decode()


def test_it_is_branded(client, admin_client):
    login = client.get(reverse("admin:login")).content.decode()
    assert "popadmin" in login and "Django administration" not in login
    index = admin_client.get(INDEX).content.decode()
    assert "<title>Administration | popadmin</title>" in index


def test_it_shows_a_banner_on_every_page_while_the_service_is_stopped(admin_client,
                                                                     django_user_model, client):
    pages = [INDEX, reverse("admin:retrieval_remoteaccount_changelist"),
             reverse("admin:accounts_mailbox_changelist")]
    for url in pages:
        assert "Mail collection is stopped" not in admin_client.get(url).content.decode()

    gs = GlobalSettings.load()
    gs.service_running = False
    gs.save()
    for url in pages:
        assert "Mail collection is stopped" in admin_client.get(url).content.decode()
    # Staff who may not start it are told who can.
    client.force_login(staff(django_user_model, "viewer", "view_remoteaccount"))
    body = client.get(reverse("admin:retrieval_remoteaccount_changelist")).content.decode()
    assert "Mail collection is stopped" in body and "An administrator can start it." in body
