"""Staff see every user's API tokens in the admin (never the token itself) and revoke a
leaked one; nobody makes or edits one there; users without the permission see nothing."""

import pytest
from django.urls import reverse

from api import tokens
from api.models import ApiToken
from tests.admin_helpers import staff
from tests.api_helpers import call, member

pytestmark = pytest.mark.django_db

LIST = reverse("admin:api_apitoken_changelist")


def test_staff_revoke_a_users_token(client, admin_client, django_user_model):
    owner = member(django_user_model, "owner")
    row, value = tokens.create(owner, "leaked script")

    page = admin_client.get(LIST)
    assert row.prefix in page.content.decode() and value not in page.content.decode()
    admin_client.post(LIST, {"action": "revoke", "_selected_action": [row.pk]})

    row.refresh_from_db()
    assert row.revoked is not None
    assert call(client, "get", "/api/v1/me", value).status_code == 401


def test_nobody_makes_or_edits_a_token_in_the_admin(admin_client, django_user_model):
    row, _ = tokens.create(member(django_user_model, "owner"), "x")
    assert admin_client.get(reverse("admin:api_apitoken_add")).status_code == 403
    admin_client.post(reverse("admin:api_apitoken_change", args=[row.pk]), {"name": "y"})
    row.refresh_from_db()
    assert row.name == "x"


def test_staff_without_the_permission_see_nothing(client, django_user_model):
    clerk = staff(django_user_model, "clerk", "view_remoteaccount")
    tokens.create(member(django_user_model, "owner"), "x")
    client.force_login(clerk)
    assert client.get(LIST).status_code == 403


def test_a_view_only_staff_member_cannot_revoke(client, django_user_model):
    viewer = staff(django_user_model, "viewer", "view_apitoken", app="api")
    row, _ = tokens.create(member(django_user_model, "owner"), "x")
    client.force_login(viewer)

    assert client.get(LIST).status_code == 200
    client.post(LIST, {"action": "revoke", "_selected_action": [row.pk]})

    assert ApiToken.objects.get(pk=row.pk).revoked is None
