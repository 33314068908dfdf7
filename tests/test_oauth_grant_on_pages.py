"""The grant on the account pages: each card on the user page and the admin's account page
show the sign-in state, with Connect/Reconnect only for people who may connect."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval.models import OAuthGrant, OAuthProvider, RemoteAccount
from retrieval.oauth.tokens import save_token
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

EXPIRED = "sign-in expired: reconnect"


def owner(manage=True):
    user = User.objects.create_user(f"u{User.objects.count()}")
    if manage:
        group = Group.objects.create(name=f"self-{user.pk}")
        GroupPolicy.objects.create(group=group, may_manage_own_accounts=True)
        user.groups.add(group)
    make_mailbox(user=user)
    return user


def oauth_account(user, expired=False):
    provider, _ = OAuthProvider.objects.get_or_create(name="Google", preset="google",
                                                      client_id="cid")
    account = RemoteAccount.objects.create(owner=user.mailbox, host="imap.gmail.com",
                                           username="someone@gmail.com", protocol="imap",
                                           auth_method="xoauth2")
    save_token(account, provider, {"access_token": "at", "refresh_token": "rt",
                                   "expires_in": 3600})
    if expired:
        OAuthGrant.objects.filter(account=account).update(expired=True)
    return account


def reconnect_link(account, back):
    return f'href="/oauth/accounts/{account.pk}/connect?next={back}"'


def test_the_owner_sees_the_expired_sign_in_and_reconnect_on_the_card(client):
    user = owner()
    account = oauth_account(user, expired=True)
    client.force_login(user)

    page = client.get(reverse("mail-accounts")).content.decode()

    card = page[page.index(f'id="account-{account.pk}"'):]
    assert EXPIRED in card
    assert reconnect_link(account, "/mail/accounts/") in card and ">Reconnect</a>" in card


def test_a_connected_card_says_who_signed_in(client):
    user = owner()
    oauth_account(user)
    client.force_login(user)

    page = client.get(reverse("mail-accounts")).content.decode()

    assert "Signed in with Google as <strong>someone@gmail.com</strong>" in page
    assert EXPIRED not in page


def test_an_owner_without_self_service_sees_the_state_but_no_button(client):
    user = owner(manage=False)
    oauth_account(user, expired=True)
    client.force_login(user)

    page = client.get(reverse("mail-accounts")).content.decode()

    assert EXPIRED in page and "Reconnect" not in page


def test_a_password_account_shows_no_sign_in(client):
    user = owner()
    account = RemoteAccount.objects.create(owner=user.mailbox, host="pop.example.test",
                                           username="me")
    client.force_login(user)

    page = client.get(reverse("mail-accounts")).content.decode()

    assert f'id="account-{account.pk}"' in page and "oauth-grant" not in page


def test_another_user_sees_nothing_of_it(client):
    account = oauth_account(owner(), expired=True)
    other = owner()
    client.force_login(other)

    page = client.get(reverse("mail-accounts")).content.decode()

    assert f"account-{account.pk}" not in page and EXPIRED not in page


def test_anonymous_is_sent_to_log_in(client):
    oauth_account(owner(), expired=True)

    response = client.get(reverse("mail-accounts"))

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def admin_page(client, account):
    return client.get(reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))


def test_the_admin_account_page_shows_the_grant_with_reconnect(admin_client):
    account = oauth_account(owner(), expired=True)

    page = admin_page(admin_client, account).content.decode()

    status = page[page.index('class="popadmin-status"'):page.index("</section>")]
    back = f"/admin/retrieval/remoteaccount/{account.pk}/change/"
    assert EXPIRED in status and reconnect_link(account, back) in status


def test_view_only_staff_see_the_grant_but_no_button(client):
    account = oauth_account(owner())
    staff = User.objects.create_user("viewer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_remoteaccount"))
    client.force_login(staff)

    page = admin_page(client, account).content.decode()

    assert "Signed in with Google as" in page and "oauth-connect" not in page
