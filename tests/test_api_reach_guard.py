"""An account the network-reach guard forbids is refused through the API with the very
words the forms use, for a user's token (the self-service form) and a staff token of an
account left restricted (the admin's form); nothing is saved."""

import pytest
from django.urls import reverse

from api.form_data import errors
from retrieval.admin.account_form import AdminAccountForm
from retrieval.models import RemoteAccount
from retrieval.selfservice_forms import UserAccountForm
from tests.api_helpers import REMOTE_PASSWORD, call, member, remote, superuser, token

pytestmark = pytest.mark.django_db

LOOPBACK = {"protocol": "pop3", "security": "tls", "host": "127.0.0.1", "port": 995,
            "username": "bob", "password": REMOTE_PASSWORD, "keep_policy": "keep"}
REFUSED = "Refused to connect to 127.0.0.1: loopback address"


def test_a_user_is_refused_as_the_self_service_page_refuses(client, django_user_model):
    user = member(django_user_model, "owner")
    client.force_login(user)
    page = client.post(reverse("mail-account-add"),
                       {**LOOPBACK, "enabled": "on", "action": "save"})
    client.logout()
    form = UserAccountForm({**LOOPBACK, "enabled": "on", "auth_method": "password"},
                           instance=RemoteAccount(owner=user.mailbox), min_poll_minutes=1)
    assert not form.is_valid()

    response = call(client, "post", "/api/v1/accounts/", token(user), body=LOOPBACK)

    assert page.status_code == response.status_code == 400
    assert REFUSED in page.content.decode()
    assert REFUSED in response.json()["host"][0]
    assert response.json() == errors(form)
    assert not RemoteAccount.objects.exists()


def test_a_staff_token_is_refused_as_the_admin_form_refuses(client, django_user_model):
    boss = superuser(django_user_model)
    owner = member(django_user_model, "owner")
    body = {**LOOPBACK, "owner": owner.mailbox.pk, "network_restricted": True}
    form = AdminAccountForm({**body, "enabled": "on", "verify_tls": "on", "mode": "single",
                             "keep_days": 7, "auth_method": "password"},
                            instance=RemoteAccount())
    assert not form.is_valid()

    response = call(client, "post", "/api/v1/accounts/", token(boss, staff=True), body=body)

    assert response.status_code == 400
    assert REFUSED in response.json()["host"][0]
    assert response.json()["host"] == errors(form)["host"]
    assert not RemoteAccount.objects.exists()


def test_an_edit_pointing_at_a_forbidden_server_is_refused(client, django_user_model):
    user = member(django_user_model, "owner")
    account = remote(user)

    response = call(client, "patch", f"/api/v1/accounts/{account.pk}", token(user),
                    body={"host": "169.254.169.254", "password": REMOTE_PASSWORD})

    assert response.status_code == 400
    assert "169.254.169.254" in response.json()["host"][0]
    account.refresh_from_db()
    assert account.host != "169.254.169.254"
