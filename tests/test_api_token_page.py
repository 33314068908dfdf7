"""The API tokens page: a user makes a token (shown once, only its digest kept), sees their
own tokens and revokes them; nobody else sees or revokes them; only staff make tokens for
the whole installation."""

import pytest
from django.urls import reverse

from api import tokens
from api.models import ApiToken
from tests.api_helpers import call, member, superuser

pytestmark = pytest.mark.django_db

PAGE = "/mail/tokens/"


def test_a_token_is_shown_once_and_works(client, django_user_model):
    owner = member(django_user_model, "owner")
    client.force_login(owner)

    made = client.post(PAGE, {"name": "backup", "access": "write", "lifetime": "30"})

    assert made.status_code == 200
    row = ApiToken.objects.get(user=owner)
    value = made.context["made"]["token"]
    assert value in made.content.decode()
    assert row.digest == tokens.digest_of(value) and row.writes and not row.staff
    assert row.expires is not None
    assert value not in client.get(PAGE).content.decode()  # never again
    assert row.prefix in client.get(PAGE).content.decode()
    client.logout()
    assert call(client, "get", "/api/v1/me", value).json()["scope"] == "read-write"


def test_revoking_stops_the_token(client, django_user_model):
    owner = member(django_user_model, "owner")
    row, value = tokens.create(owner, "x")
    client.force_login(owner)

    response = client.post(reverse("api-token-revoke", args=[row.pk]))

    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked is not None
    client.logout()
    assert call(client, "get", "/api/v1/me", value).status_code == 401


def test_another_user_neither_sees_nor_revokes(client, django_user_model):
    owner, other = member(django_user_model, "owner"), member(django_user_model, "other")
    row, _ = tokens.create(owner, "owners secret script")
    client.force_login(other)

    assert "owners secret script" not in client.get(PAGE).content.decode()
    assert client.post(reverse("api-token-revoke", args=[row.pk])).status_code == 404
    row.refresh_from_db()
    assert row.revoked is None


def test_staff_still_cannot_revoke_someone_elses_token_here(client, django_user_model):
    owner, boss = member(django_user_model, "owner"), superuser(django_user_model)
    row, _ = tokens.create(owner, "x")
    client.force_login(boss)
    assert client.post(reverse("api-token-revoke", args=[row.pk])).status_code == 404


def test_anonymous_visitors_go_to_the_login(client):
    assert client.get(PAGE).status_code == 302
    assert client.post(PAGE, {"name": "x", "access": "read"}).status_code == 302
    assert not ApiToken.objects.exists()


def test_only_staff_make_whole_installation_tokens(client, django_user_model):
    owner, boss = member(django_user_model, "owner"), superuser(django_user_model)
    client.force_login(owner)
    assert "Whole installation" not in client.get(PAGE).content.decode()
    client.post(PAGE, {"name": "x", "access": "read", "lifetime": "", "staff": "on"})
    assert ApiToken.objects.get(user=owner).staff is False

    client.force_login(boss)
    client.post(PAGE, {"name": "y", "access": "read", "lifetime": "", "staff": "on"})
    made = ApiToken.objects.get(user=boss)
    assert (made.staff, made.writes, made.expires) == (True, False, None)


def test_a_name_is_required(client, django_user_model):
    client.force_login(member(django_user_model, "owner"))
    response = client.post(PAGE, {"name": "", "access": "read"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()
