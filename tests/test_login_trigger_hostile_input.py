"""POST /api/login-trigger answers 400, never 500, to input built to break the parser or
the database: JSON nested past Python's recursion limit, a lone UTF-16 surrogate or a NUL
in the address (neither can be encoded for the database)."""

import json

import pytest

from retrieval import dispatcher

pytestmark = pytest.mark.django_db

TOKEN = "trigger-token-hostile-0123456789"
URL = "/api/login-trigger"


@pytest.fixture(autouse=True)
def token(settings):
    settings.POPADMIN_TRIGGER_TOKEN = TOKEN


@pytest.fixture
def requested(monkeypatch):
    calls = []
    monkeypatch.setattr(dispatcher, "request_check", lambda ids, trigger: calls.append(ids) or [])
    return calls


def post_raw(client, body: str):
    return client.post(URL, body, content_type="application/json",
                       headers={"Authorization": f"Bearer {TOKEN}"})


def test_it_refuses_json_nested_deeper_than_python_can_parse(client, requested):
    response = post_raw(client, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]
    assert requested == []


def test_it_refuses_deeply_nested_values_inside_an_object(client, requested):
    body = '{"address": ' + "[" * 100_000 + "]" * 100_000 + ', "service": "imap"}'
    assert post_raw(client, body).status_code == 400


@pytest.mark.parametrize("address", [
    "\ud800alice@local.test",   # a lone surrogate: valid JSON, not encodable as UTF-8
    "alice\udfff@local.test",
    "alice\x00@local.test",     # PostgreSQL text cannot hold NUL
    "alice\n@local.test",
])
def test_it_refuses_an_address_the_database_cannot_hold(client, requested, address):
    body = json.dumps({"address": address, "service": "imap"})
    response = post_raw(client, body)
    assert response.status_code == 400
    assert response.json() == {"error": "address is not a valid address"}
    assert requested == []


def test_it_refuses_a_lone_surrogate_in_the_service(client, requested):
    body = json.dumps({"address": "alice@local.test", "service": "imap\ud800"})
    assert post_raw(client, body).status_code == 400
