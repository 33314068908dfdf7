"""The card and its progress line say what is really happening: queued (and how
many ahead), paused by the administrator, connection attempt n of m, n of m
messages; and after a check, the card itself carries the new status."""

import datetime as dt
import socket

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import GroupPolicy
from retrieval import dispatcher, engine
from retrieval.account_card import account_card
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount, Run
from tests.factories import make_account, make_mailbox

pytestmark = pytest.mark.django_db



@pytest.fixture
def owner(django_user_model):
    user = django_user_model.objects.create_user("owner", password="x")
    group = Group.objects.create(name="checkers")
    GroupPolicy.objects.create(group=group, allow_manual_check=True)
    user.groups.add(group)
    make_mailbox("owner@local.test", user=user)
    return user


def remote(owner, username="alice", **fields) -> RemoteAccount:
    account = RemoteAccount(owner=owner.mailbox, host="pop.example.test", username=username,
                            **fields)
    account.set_password("secret")
    account.save()
    return account


def set_running(value: bool):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(service_running=value)


def progress(client, owner, account) -> dict:
    client.force_login(owner)
    return client.get(reverse("mail-progress", args=[account.pk])).json()["card"]


def test_it_counts_the_checks_queued_ahead(owner, django_capture_on_commit_callbacks):
    first, second, third = (remote(owner, f"user{n}") for n in range(3))
    with django_capture_on_commit_callbacks():  # queued, but no broker needed
        for account in (first, second, third):
            assert dispatcher.request_check([account.pk], "manual") == [account.pk]
            # Claims are ordered by time: make each one strictly later.
            AccountClaim.objects.filter(account=account).update(
                until=timezone.now() + dt.timedelta(minutes=5, seconds=account.pk))

    assert account_card(first)["line"] == "queued: next in line, waiting for a worker"
    card = account_card(third)
    assert (card["phase"], card["active"]) == ("queued", True)
    assert card["line"] == "queued: 2 checks ahead, waiting for a worker"


def test_it_says_paused_when_the_service_is_stopped(client, owner):
    account = remote(owner, last_check=timezone.now(), last_status="ok")
    set_running(False)
    client.force_login(owner)

    answer = client.post(reverse("mail-check-account", args=[account.pk]),
                         HTTP_ACCEPT="application/json").json()
    card = progress(client, owner, account)

    assert answer == {"queued": []}
    assert card["phase"] == "paused"
    assert card["line"].startswith("paused by the administrator")
    assert "checked a moment ago" not in card["line"]
    assert card["next_check"] == "paused: the administrator has stopped mail collection"


def test_it_says_paused_without_script_too(client, owner):
    account = remote(owner)
    set_running(False)
    client.force_login(owner)

    response = client.post(reverse("mail-check-account", args=[account.pk]), follow=True)

    text = response.content.decode()
    assert "the administrator has stopped mail collection" in text
    assert "checked a moment ago" not in text
    assert "Mail collection is paused by the administrator" in text


def test_it_shows_the_connection_attempt_and_the_next_try(owner):
    account = remote(owner)
    retry_at = timezone.now() + dt.timedelta(seconds=25)
    Run.objects.create(account=account, trigger="manual", attempt=2, attempts=3,
                       next_try=retry_at)

    card = account_card(account)

    at = timezone.localtime(retry_at).strftime("%H:%M:%S")
    assert (card["phase"], card["active"]) == ("retrying", True)
    assert card["line"] == f"the server did not answer: attempt 2 of 3 at {at}"


def test_the_engine_records_each_failed_attempt_on_the_run(dovecot, mail_user, monkeypatch):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=3, retry_seconds=7, timeout_seconds=2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    account = make_account(dovecot, *mail_user, port=closed_port, host="127.0.0.1")
    seen = []

    def sleep_and_look(seconds):
        # What the page would read while the worker waits.
        run = Run.objects.get(account=account)
        seen.append((run.attempt, run.attempts, account_card(account)["line"]))

    monkeypatch.setattr(engine.time, "sleep", sleep_and_look)
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR and "gave up after 3 attempts" in run.error
    assert [s[:2] for s in seen] == [(2, 3), (3, 3)]
    assert seen[0][2].startswith("the server did not answer: attempt 2 of 3 at ")
    assert seen[1][2].startswith("the server did not answer: attempt 3 of 3 at ")


def test_it_counts_messages_while_fetching(owner):
    account = remote(owner)
    Run.objects.create(account=account, trigger="manual", total=8, fetched=5)
    assert account_card(account)["line"] == "fetching: 5 of 8 messages"


def test_the_card_carries_the_new_status_after_a_check(client, owner):
    account = remote(owner)
    now = timezone.now()
    Run.objects.create(account=account, trigger="manual", status="ok", delivered=3,
                       fetched=3, total=3, finished=now)
    RemoteAccount.objects.filter(pk=account.pk).update(
        last_check=now, last_status="ok", next_check=now + dt.timedelta(minutes=10))

    card = progress(client, owner, account)

    assert card["line"] == "checked a moment ago: OK, 3 new messages"
    assert card["phase"] == "done" and not card["active"]
    assert card["result"] == "OK"
    assert card["last_check"].startswith(timezone.localtime(now).strftime("%Y-%m-%d %H:%M"))
    assert "(in 9\xa0minutes)" in card["next_check"] or "(in 10\xa0minutes)" in card["next_check"]


def test_it_explains_an_error_and_says_who_can_fix_it(client, owner):
    refused = remote(owner, "refused", last_status="error",
                     last_error="login refused by the server: [AUTH] authentication failed")
    untrusted = remote(owner, "untrusted", last_status="error",
                       last_error="TLS handshake failed: certificate verify failed")

    # This owner may not edit accounts (no self-service): changing the password is an
    # administrator's step, and the card says so.
    card = progress(client, owner, refused)
    assert card["error_summary"] == "The server refused the username or password."
    assert card["next_step"].startswith("The password may have changed at the provider: "
                                        "the new one")
    assert card["admin_only"] is True

    card = progress(client, owner, untrusted)
    assert card["error_summary"] == "The server's TLS certificate is not trusted."
    assert "extra trusted CA file" in card["next_step"] and card["admin_only"] is True

    text = client.get(reverse("mail-accounts")).content.decode()
    assert "What you can do:" not in text
    assert "Only an administrator can fix this. Ask them:" in text
