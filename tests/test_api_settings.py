"""/api/v1/settings: the global settings, for staff tokens only, validated by the admin's
settings form."""

import pytest

from retrieval.models import GlobalSettings
from tests.api_helpers import call, expired_token, member, superuser, token

pytestmark = pytest.mark.django_db

PATH = "/api/v1/settings"


def test_staff_read_and_change(client, django_user_model):
    value = token(superuser(django_user_model), staff=True)

    assert call(client, "get", PATH, value).json()["poll_minutes"] == (
        GlobalSettings.load().poll_minutes)
    response = call(client, "patch", PATH, value, body={"poll_minutes": 17,
                                                       "allowed_ports": [995, 993]})

    assert response.status_code == 200, response.json()
    settings = GlobalSettings.load()
    assert (settings.poll_minutes, settings.allowed_ports) == (17, [993, 995])
    assert settings.service_running is True  # omitted: kept


def test_the_admin_forms_validation_holds(client, django_user_model):
    value = token(superuser(django_user_model), staff=True)

    response = call(client, "patch", PATH, value, body={"allowed_ports": ["99999"]})

    assert response.status_code == 400
    assert response.json() == {"allowed_ports": ["99999 is not a port number (1 to 65535)."]}


def test_nobody_else(client, django_user_model):
    owner, boss = member(django_user_model, "owner"), superuser(django_user_model)
    for value, code in ((token(owner), 403), (token(boss), 403),
                        (token(boss, staff=True, writes=False), 200), (None, 401),
                        (token(boss, staff=True, revoked=True), 401),
                        (expired_token(boss, staff=True), 401)):
        assert call(client, "get", PATH, value).status_code == code
    refused = call(client, "patch", PATH, token(boss, staff=True, writes=False),
                   body={"poll_minutes": 1})
    assert refused.status_code == 403
    assert GlobalSettings.load().poll_minutes != 1


def test_a_list_of_the_wrong_things_is_refused_in_words(client, django_user_model):
    value = token(superuser(django_user_model), staff=True)

    response = call(client, "patch", PATH, value, body={"accepted_domains": [{"a": 1}]})

    assert response.status_code == 400
    assert response.json() == {"accepted_domains": ["Give a list of text or numbers."]}
