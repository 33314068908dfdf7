"""API tokens: only a digest is stored, the prefix tells them apart, revoked and expired
ones stop working at once, a token follows its user's state, and each token has its
own rate limit."""

import datetime as dt

import pytest
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from tests.api_helpers import call, member, superuser, token

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"


def test_only_a_digest_and_the_prefix_are_stored(django_user_model):
    user = member(django_user_model, "owner")
    row, value = tokens.create(user, "backup script", writes=True)

    stored = ApiToken.objects.filter(pk=row.pk).values().get()
    assert value.startswith(row.prefix + "_")
    assert value not in repr(stored)
    assert stored["digest"] == tokens.digest_of(value)
    assert len(value) > 50
    assert tokens.create(user, "again")[1] != value


def test_me_says_who_and_what_scope(client, django_user_model):
    boss = superuser(django_user_model)

    body = call(client, "get", ME, token(boss, writes=False, staff=True)).json()

    assert body["username"] == boss.username
    assert body["whole_installation"] is True
    assert body["scope"] == "read-only, whole installation"
    assert "digest" not in body


def test_a_revoked_token_stops_at_once(client, django_user_model):
    user = member(django_user_model, "owner")
    row, value = tokens.create(user, "x")
    assert call(client, "get", ME, value).status_code == 200

    tokens.revoke(row)

    response = call(client, "get", ME, value)
    assert response.status_code == 401
    assert response.json()["detail"] == "This API token is revoked."


def test_an_expired_token_stops(client, django_user_model):
    user = member(django_user_model, "owner")
    row, value = tokens.create(user, "x", expires=timezone.now() + dt.timedelta(hours=1))
    assert call(client, "get", ME, value).status_code == 200

    ApiToken.objects.filter(pk=row.pk).update(expires=timezone.now())

    assert call(client, "get", ME, value).json()["detail"] == "This API token is expired."


def test_a_token_follows_its_users_state(client, django_user_model):
    user = member(django_user_model, "owner")
    boss = superuser(django_user_model)
    users_token, staff_token = token(user), token(boss, staff=True)

    user.is_active = False
    user.save()
    boss.is_staff = False
    boss.save()

    assert call(client, "get", ME, users_token).status_code == 401
    assert call(client, "get", ME, staff_token).status_code == 401


def test_the_last_use_is_recorded(client, django_user_model):
    user = member(django_user_model, "owner")
    row, value = tokens.create(user, "x")

    call(client, "get", ME, value)

    row.refresh_from_db()
    assert row.last_used is not None


def test_each_token_has_its_own_rate_limit(client, django_user_model, settings):
    settings.POPADMIN_API_RATE = "3/minute"
    user = member(django_user_model, "owner")
    first, second = token(user), token(user)

    answers = [call(client, "get", ME, first).status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    assert call(client, "get", ME, second).status_code == 200
    limited = call(client, "get", ME, first)
    assert int(limited["Retry-After"]) > 0


def test_a_malformed_header_is_refused(client):
    response = client.get(ME, HTTP_AUTHORIZATION="Bearer two words")
    assert response.status_code == 401
    assert "Bearer <token>" in response.json()["detail"]


def test_answers_are_never_cached(client, django_user_model):
    response = call(client, "get", "/api/v1/accounts/", token(member(django_user_model, "o")))
    assert "no-store" in response["Cache-Control"]
