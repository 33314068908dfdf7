"""The sign-in method on the admin and user account forms: an OAuth2 account needs no
password and is sent on to its sign-in once saved; a password account still needs one."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval.forms import RemoteAccountForm
from retrieval.models import GlobalSettings, OAuthProvider, RemoteAccount
from tests.factories import make_mailbox
from tests.test_admin_accounts import form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def google(db):
    return OAuthProvider.objects.create(name="Google", preset="google", client_id="cid")


def test_the_admin_form_takes_an_oauth_account_without_a_password():
    form = RemoteAccountForm(form_data(make_mailbox(), auth_method="xoauth2"))

    assert form.is_valid(), form.errors
    account = form.save()
    assert account.auth_method == "xoauth2" and not account.has_password


def test_the_admin_form_still_wants_a_password_for_a_password_account():
    form = RemoteAccountForm(form_data(make_mailbox(), auth_method="password"))

    assert not form.is_valid()
    assert form.errors["password"] == ["A password is required for a new account."]


def test_a_password_typed_before_switching_to_oauth_is_not_stored():
    form = RemoteAccountForm(form_data(make_mailbox(), auth_method="oauthbearer",
                                       password="bad\nline"))

    assert form.is_valid(), form.errors
    assert not form.save().has_password


def test_a_post_without_the_method_keeps_the_current_one_unchanged():
    account = RemoteAccount.objects.create(owner=make_mailbox(), host="pop.example.test",
                                           username="alice", auth_method="xoauth2")

    form = RemoteAccountForm(form_data(account.owner), instance=account)

    assert form.is_valid(), form.errors
    assert "auth_method" not in form.changed_data
    assert form.save().auth_method == "xoauth2"


def test_the_admin_add_goes_on_to_the_sign_in(admin_client, google):
    response = admin_client.post(reverse("admin:retrieval_remoteaccount_add"),
                                 form_data(make_mailbox(), auth_method="xoauth2"))

    account = RemoteAccount.objects.get()
    change = reverse("admin:retrieval_remoteaccount_change", args=[account.pk])
    assert response.status_code == 302
    assert response["Location"].startswith(f"/oauth/accounts/{account.pk}/connect?next=")
    page = admin_client.get(response["Location"])
    assert page.status_code == 200 and b"Sign in with Google" in page.content
    assert change.encode() in page.content


def test_a_staff_user_who_may_add_but_not_connect_lands_on_the_list(client, google):
    # may_connect wants the change permission: without it, no detour to a 404.
    staff = User.objects.create_user("adder", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(
        codename__in=["add_remoteaccount", "view_remoteaccount"]))
    client.force_login(staff)

    response = client.post(reverse("admin:retrieval_remoteaccount_add"),
                           form_data(make_mailbox(), auth_method="xoauth2"))

    assert response.status_code == 302 and "/oauth/" not in response["Location"]


def test_the_admin_account_page_offers_the_sign_in_method(admin_client):
    page = admin_client.get(reverse("admin:retrieval_remoteaccount_add"))

    assert b'name="auth_method"' in page.content
    assert b"popadmin/account_form.js" in page.content


def self_service_user(name="me"):
    user = User.objects.create_user(name)
    group = Group.objects.create(name=f"g-{name}")
    GroupPolicy.objects.create(group=group, may_manage_own_accounts=True)
    user.groups.add(group)
    make_mailbox(f"{name}@local.test", user=user)
    return user


@pytest.fixture(autouse=True)
def loopback_allowed(db):
    # The user's server, stood in for by this host (the reach guard resolves it).
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = ["127.0.0.0/8"]
    gs.save()


def user_fields(**extra):
    data = {"name": "", "protocol": "imap", "security": "tls", "host": "127.0.0.1",
            "port": "993", "username": "me@gmail.com", "auth_method": "xoauth2",
            "password": "", "folders": "", "target_folder": "", "keep_policy": "delete",
            "keep_days": 7, "poll_minutes": "", "enabled": "on", "action": "save"}
    data.update(extra)
    return data


def test_a_user_saves_an_oauth_account_and_is_sent_to_sign_in(client, google):
    client.force_login(self_service_user())

    response = client.post(reverse("mail-account-add"),
                           user_fields(oauth_provider=str(google.pk)))

    account = RemoteAccount.objects.get()
    assert account.auth_method == "xoauth2" and not account.has_password
    assert account.network_restricted  # as for every account a user adds
    assert response.status_code == 302
    assert response["Location"] == (f"/oauth/accounts/{account.pk}/connect"
                                    f"?next=%2Fmail%2Faccounts%2F&provider={google.pk}")


def test_test_connection_of_an_unsigned_oauth_account_explains_instead(client):
    client.force_login(self_service_user())

    response = client.post(reverse("mail-account-add"), user_fields(action="test"),
                           HTTP_ACCEPT="application/json")

    assert response.json()["ok"] is False
    assert "signs in at its provider" in response.json()["summary"]
    assert not RemoteAccount.objects.exists()


def test_a_forged_provider_id_is_ignored(client):
    client.force_login(self_service_user())

    response = client.post(reverse("mail-account-add"), user_fields(oauth_provider="999"))

    account = RemoteAccount.objects.get()
    assert response["Location"] == (f"/oauth/accounts/{account.pk}/connect"
                                    "?next=%2Fmail%2Faccounts%2F")


def test_the_user_form_puts_the_method_before_the_password(client):
    client.force_login(self_service_user())

    page = client.get(reverse("mail-account-add") + "?address=me@example.test").content.decode()

    assert page.index('name="auth_method"') < page.index('name="password"')
