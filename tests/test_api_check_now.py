"""Check now and its progress through the API: as on the accounts page for the owner (their
group must allow manual checks), as in the admin for a staff token; recorded in the
audit trail with the token's user; the progress is the card the page's live refresh gets."""

import pytest
from auditlog.models import LogEntry

from retrieval import dispatcher
from retrieval.models import Run
from tests.api_helpers import call, expired_token, member, remote, superuser, token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(dispatcher, "enqueue_fetch", lambda pk, trigger, task_id=None: None)


def check(account):
    return f"/api/v1/accounts/{account.pk}/check"


def progress(account):
    return f"/api/v1/accounts/{account.pk}/progress"


def test_the_owner_checks_now_and_it_is_recorded(client, django_user_model):
    owner = member(django_user_model, "owner")
    account = remote(owner)

    response = call(client, "post", check(account), token(owner), REMOTE_ADDR="192.0.2.5")

    assert response.status_code == 200
    assert response.json() == {"queued": [account.pk]}
    account.refresh_from_db()
    assert account.pending_trigger == Run.Trigger.MANUAL
    entry = LogEntry.objects.get_for_object(account).get(action=LogEntry.Action.ACCESS)
    assert (entry.actor, entry.remote_addr) == (owner, "192.0.2.5")
    assert entry.additional_data["via"] == "API"


def test_a_group_without_manual_checks_is_refused(client, django_user_model):
    user = member(django_user_model, "plain", check=False)
    account = remote(user)

    response = call(client, "post", check(account), token(user))

    assert response.status_code == 403
    assert response.json()["detail"] == "Your group does not allow manual checks."


def test_other_users_readers_and_dead_tokens_start_nothing(client, django_user_model):
    owner, other = member(django_user_model, "owner"), member(django_user_model, "other")
    account = remote(owner)

    assert call(client, "post", check(account), token(other)).status_code == 404
    assert call(client, "get", progress(account), token(other)).status_code == 404
    assert call(client, "post", check(account), token(owner, writes=False)).status_code == 403
    assert call(client, "post", check(account), token(owner, revoked=True)).status_code == 401
    assert call(client, "post", check(account), expired_token(owner)).status_code == 401
    assert call(client, "post", check(account)).status_code == 401
    account.refresh_from_db()
    assert account.pending_trigger == ""


def test_staff_check_any_account(client, django_user_model):
    owner, boss = member(django_user_model, "owner"), superuser(django_user_model)
    account = remote(owner)

    response = call(client, "post", check(account), token(boss, staff=True))

    assert response.json() == {"queued": [account.pk]}
    account.refresh_from_db()
    assert account.pending_trigger == Run.Trigger.ADMIN


def test_progress_is_the_live_cards_answer(client, django_user_model):
    owner = member(django_user_model, "owner")
    account = remote(owner, last_error="-ERR [AUTH] Authentication failed.",
                     last_status="error")
    client.force_login(owner)
    page = client.get(f"/mail/accounts/{account.pk}/progress").json()
    client.logout()

    response = call(client, "get", progress(account), token(owner, writes=False))

    assert response.status_code == 200
    body = response.json()
    assert body["card"]["error_summary"] == page["card"]["error_summary"] != ""
    assert body["card"]["next_step"] == page["card"]["next_step"]
    assert {k: v for k, v in body.items() if k != "card"} == {
        k: v for k, v in page.items() if k != "card"}


def test_the_accounts_status_is_in_plain_words(client, django_user_model):
    owner = member(django_user_model, "owner")
    account = remote(owner, last_error="-ERR [AUTH] Authentication failed.",
                     last_status="error")

    status = call(client, "get", f"/api/v1/accounts/{account.pk}", token(owner)).json()["status"]

    assert status["result"] == "error"
    assert status["last_error"] == "-ERR [AUTH] Authentication failed."
    assert "password" in status["error_summary"].lower()
    assert status["next_step"]
    assert status["who"] == "you"


def test_a_user_without_self_service_is_told_to_ask_an_administrator(client,
                                                                      django_user_model):
    user = member(django_user_model, "plain", manage=False)
    account = remote(user, last_error="-ERR [AUTH] Authentication failed.",
                     last_status="error")

    status = call(client, "get", f"/api/v1/accounts/{account.pk}", token(user)).json()["status"]

    assert status["who"] == "an administrator"
