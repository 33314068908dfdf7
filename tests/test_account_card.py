"""The card and its progress line say what is really happening: a first check
due, queued (and its place in line), paused by the administrator, connection
attempt n of m, n of m messages; after a check, the card itself carries the
new status, in the same words as its last-check line, with the messages the
server would not send."""

import datetime as dt
import socket

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import GroupPolicy
from retrieval import dispatcher, engine
from retrieval.account_card import account_card
from retrieval.models import AccountClaim, GlobalSettings, RefusedMessage, RemoteAccount, Run
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

    assert account_card(first)["line"] == "queued: 1st in line, waiting for a worker"
    card = account_card(third)
    assert (card["phase"], card["active"]) == ("queued", True)
    assert card["line"] == "queued: 3rd in line (2 checks ahead), waiting for a worker"


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
    assert "checked just now" not in card["line"]
    assert card["next_check"] == "paused: the administrator has stopped mail collection"


def test_it_says_paused_without_script_too(client, owner):
    account = remote(owner)
    set_running(False)
    client.force_login(owner)

    response = client.post(reverse("mail-check-account", args=[account.pk]), follow=True)

    text = response.content.decode()
    assert "the administrator has stopped mail collection" in text
    assert "checked just now" not in text
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

    assert card["line"] == "checked just now: OK, 3 new messages"
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


def test_check_all_gives_each_card_its_own_place_in_line(owner,
                                                         django_capture_on_commit_callbacks):
    accounts = [remote(owner, f"user{n}") for n in range(3)]
    with django_capture_on_commit_callbacks():  # queued, but no broker needed
        queued = dispatcher.request_check([a.pk for a in accounts], "manual")

    assert queued == [a.pk for a in accounts]
    assert [account_card(a)["line"] for a in accounts] == [
        "queued: 1st in line, waiting for a worker",
        "queued: 2nd in line (1 check ahead), waiting for a worker",
        "queued: 3rd in line (2 checks ahead), waiting for a worker",
    ]
    AccountClaim.objects.filter(account=accounts[1]).update(worker="celery@host")
    assert account_card(accounts[1])["line"] == (
        "queued: a worker has taken it and starts it when it has a slot")


def test_a_new_account_is_followed_until_its_first_check(owner):
    account = remote(owner, next_check=timezone.now())

    card = account_card(account)

    assert (card["phase"], card["active"], card["result"]) == ("due", True, "never checked")
    assert card["line"] == "first check due now: waiting for the scheduler to start it"


def test_the_progress_line_and_the_last_check_describe_the_same_check(owner):
    now = timezone.now()
    account = remote(owner, last_check=now - dt.timedelta(seconds=10), last_status="ok")
    # The run with mail was two minutes ago; the last check found nothing (and kept no run).
    Run.objects.create(account=account, trigger="schedule", status="ok", delivered=20,
                       fetched=20, total=20, finished=now - dt.timedelta(minutes=2))

    card = account_card(account, now=now)

    assert card["last_check"].endswith("(just now)")
    assert card["line"] == "checked just now: OK, no new messages"


def test_under_a_minute_is_just_now_never_0_minutes(owner):
    now = timezone.now()
    finished = now - dt.timedelta(seconds=45)
    account = remote(owner, last_check=finished, last_status="ok")
    Run.objects.create(account=account, trigger="manual", status="ok", delivered=2,
                       fetched=2, total=2, finished=finished)

    card = account_card(account, now=now)

    assert card["line"] == "checked just now: OK, 2 new messages"
    assert card["last_check"].endswith("(just now)")
    later = account_card(account, now=now + dt.timedelta(seconds=30))
    assert later["line"] == "checked 1\xa0minute ago: OK, 2 new messages"
    assert "0\xa0minutes" not in later["last_check"]


def test_a_next_check_under_a_minute_ahead_is_in_under_a_minute(owner):
    now = timezone.now()
    account = remote(owner, last_check=now - dt.timedelta(minutes=9), last_status="ok",
                     next_check=now + dt.timedelta(seconds=20))

    assert account_card(account, now=now)["next_check"].endswith("(in under a minute)")


def test_a_scheduled_check_counts_every_asked_for_check_ahead(
        owner, django_capture_on_commit_callbacks):
    scheduled, asked = remote(owner, "scheduled"), remote(owner, "asked")
    with django_capture_on_commit_callbacks():
        assert dispatcher.dispatch(enqueue=lambda pk, trigger: None) == [scheduled.pk, asked.pk]
        # Its scheduled task is gone; then someone asks for it: asked for after
        # the scheduled one was queued, it goes first all the same.
        AccountClaim.objects.filter(account=asked).delete()
        assert dispatcher.request_check([asked.pk], "manual") == [asked.pk]

    assert account_card(asked)["line"] == "queued: 1st in line, waiting for a worker"
    assert account_card(scheduled)["line"] == (
        "queued: 2nd in line (1 check ahead), waiting for a worker")


def test_the_progress_card_lists_refused_messages_to_the_owner_only(client, owner,
                                                                    django_user_model):
    account = remote(owner, last_check=timezone.now(), last_status="partial")
    RefusedMessage.objects.create(account=account, uid="uid-7", size=10, attempts=1,
                                  reason="server refused to send message 7")
    url = reverse("mail-progress", args=[account.pk])

    [line] = progress(client, owner, account)["refused"]
    assert line.startswith("message uid-7 (10 bytes): failed 1 of 3 attempts")

    client.force_login(django_user_model.objects.create_user("someone", password="x"))
    assert client.get(url).status_code == 404
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_the_line_takes_the_colour_of_the_last_check(owner):
    now = timezone.now()
    account = remote(owner, last_check=now, last_status="ok")
    # An earlier check failed in part; the last one (an empty poll) was fine.
    Run.objects.create(account=account, trigger="manual", status="partial", delivered=1,
                       failed=1, finished=now - dt.timedelta(minutes=5))

    card = account_card(account, now=now)

    assert (card["line"], card["state"]) == ("checked just now: OK, no new messages", "ok")
