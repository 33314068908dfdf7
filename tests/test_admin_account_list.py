"""The remote account list answers "which accounts are broken and why"."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.admin_helpers import make_remote
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db
LIST = reverse("admin:retrieval_remoteaccount_changelist")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def row_of(body, text):
    [row] = [r for r in re.findall(r"<tr>.*?</tr>", body, re.S) if text in r]
    return row


def test_it_shows_owner_host_user_type_status_and_the_error_in_plain_words(admin_client):
    make_remote(owner=make_mailbox("fine@local.test"), host="pop.fine.test", username="fine",
                last_status="ok", last_check=timezone.now())
    make_remote(owner=make_mailbox("broken@local.test"), host="pop.broken.test",
                username="broken", last_status="error", last_check=timezone.now(),
                last_error="login refused: -ERR [AUTH] Authentication failed.",
                consecutive_failures=4, failing_since=timezone.now() - dt.timedelta(hours=2))

    body = admin_client.get(LIST).content.decode()

    broken = row_of(body, "pop.broken.test")
    for text in ("broken@local.test", ">broken<", "POP3 · TLS", ">Failing<",
                 "The server refused the username or password.",
                 "login refused: -ERR [AUTH] Authentication failed."):
        assert text in broken
    assert "failing since" in broken and ", 4 attempts" in broken
    fine = row_of(body, "pop.fine.test")
    assert ">OK<" in fine and "refused" not in fine


def test_it_names_never_checked_and_disabled_accounts(admin_client):
    make_remote(host="pop.new.test")
    make_remote(host="pop.off.test", enabled=False, last_status="error", last_error="x")

    body = admin_client.get(LIST).content.decode()

    assert ">Never checked<" in row_of(body, "pop.new.test")
    assert ">Disabled<" in row_of(body, "pop.off.test")


@pytest.mark.parametrize("query", ["carol@local", "pop.search", "carol-remote"])
def test_it_searches_by_owner_host_and_user(admin_client, query):
    make_remote(owner=make_mailbox("carol@local.test"), host="pop.search.test",
                username="carol-remote")
    make_remote(host="pop.other.test", username="dave")

    body = admin_client.get(LIST, {"q": query}).content.decode()

    assert "pop.search.test" in body
    assert "pop.other.test" not in body


def test_it_says_a_changed_account_waits_for_its_check(admin_client):
    make_remote(host="pop.fixed.test", last_status="error", last_error="login refused",
                consecutive_failures=0)

    row = row_of(admin_client.get(LIST).content.decode(), "pop.fixed.test")

    assert ">Changed, check due<" in row and "Before the last change:" in row
