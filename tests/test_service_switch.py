"""The service switch, poll times and backoff: stopping lets sessions finish
the message in hand; failures lengthen the interval up to a cap and show in
the admin list; tasks are safe to run twice."""

import datetime as dt
import time
from types import SimpleNamespace

import pytest
from django.utils import timezone

from retrieval import admission, dispatcher, engine
from retrieval.models import EffectiveSettings, GlobalSettings, RemoteAccount, Run, UserSettings
from retrieval.status import MAX_BACKOFF, MAX_JITTER, finish_run
from retrieval.tasks import TRANSIENT, fetch_account
from tests.factories import local_messages, make_account, make_mailbox

pytestmark = pytest.mark.django_db


def set_running(value: bool):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(service_running=value)


def test_it_stops_a_session_after_the_message_in_hand_and_resumes(
    dovecot, mail_user, monkeypatch, django_capture_on_commit_callbacks
):
    dovecot.deliver_many(mail_user[0], 5)
    account = make_account(dovecot, *mail_user)
    take, taken = engine.Retrieval.take, []
    # The switch is read once a second (next test); here after every message,
    # so the stop lands right after the second one.
    monkeypatch.setattr(engine, "SWITCH_CHECK_SECONDS", 0)

    def take_then_stop_the_service_at_the_second(self, session, msg):
        take(self, session, msg)
        taken.append(msg.uid)
        if len(taken) == 2:
            set_running(False)

    monkeypatch.setattr(engine.Retrieval, "take", take_then_stop_the_service_at_the_second)
    run = engine.run_account(account.pk, Run.Trigger.SCHEDULE)

    assert run.status == Run.Status.OK, run.error
    assert (run.delivered, run.deleted) == (2, 2)
    assert "service stopped; 3 messages left for later" in run.notes
    # The pass was committed: what was delivered is gone from the server.
    assert len(dovecot.messages(mail_user[0])) == 3
    assert len(local_messages(account.owner)) == 2
    account.refresh_from_db()
    assert account.next_check <= timezone.now() and account.lease_token is None

    # Stopped: nothing new starts, whoever asks.
    refused = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert not refused and refused.reason == admission.SERVICE_STOPPED
    assert dispatcher.dispatch(lambda pk, trigger: None) == []

    # Started again: the rest of the mailbox is due at once.
    monkeypatch.undo()
    set_running(True)
    with django_capture_on_commit_callbacks(execute=True):
        sent = []
        dispatcher.dispatch(lambda pk, trigger: sent.append(pk))
    assert sent == [account.pk]
    rest = engine.run_account(account.pk, Run.Trigger.SCHEDULE)
    assert rest.delivered == 3 and rest.progress == (3, 3)
    assert dovecot.messages(mail_user[0]) == []
    assert len(local_messages(account.owner)) == 5


def plain_account(**fields):
    fields.setdefault("username", "someone")
    return RemoteAccount.objects.create(owner=make_mailbox(), host="pop.example.test", **fields)


def gap(account) -> dt.timedelta:
    row = RemoteAccount.objects.get(pk=account.pk)
    return row.next_check - row.last_check


def finish(account, error=""):
    run = Run.objects.create(account=account, trigger=Run.Trigger.SCHEDULE, error=error)
    finish_run(account, run, EffectiveSettings.for_mailbox(account.owner))


def within(value: dt.timedelta, interval: dt.timedelta) -> bool:
    return interval <= value < interval + min(interval / 10, MAX_JITTER)


def test_it_reads_the_switch_once_a_second_and_stops_within_it(dovecot, mail_user, monkeypatch):
    dovecot.deliver_many(mail_user[0], 12)
    account = make_account(dovecot, *mail_user)
    take, taken = engine.Retrieval.take, []
    is_running, reads = GlobalSettings.is_running, []
    # The engine's clock: each message takes a quarter of a second.
    clock = [0.0]
    monkeypatch.setattr(engine, "time", SimpleNamespace(monotonic=lambda: clock[0],
                                                        sleep=time.sleep))

    def slow_take_then_stop_the_service_at_the_second(self, session, msg):
        take(self, session, msg)
        taken.append(msg.uid)
        if len(taken) == 2:
            set_running(False)
        clock[0] += 0.25

    def counted_is_running():
        reads.append(1)
        return is_running()

    monkeypatch.setattr(engine.Retrieval, "take", slow_take_then_stop_the_service_at_the_second)
    monkeypatch.setattr(GlobalSettings, "is_running", staticmethod(counted_is_running))
    run = engine.run_account(account.pk, Run.Trigger.SCHEDULE)

    assert run.status == Run.Status.OK, run.error
    assert any(note.startswith("service stopped;") for note in run.notes)
    # The switch was read once, a second into the session (after the fourth
    # message), not after every message; the stop took effect then.
    assert (run.delivered, len(reads)) == (4, 1)
    assert len(dovecot.messages(mail_user[0])) == 12 - run.delivered


def test_it_backs_off_up_to_a_cap_and_resets_on_success():
    account = plain_account()
    gaps = []
    for _ in range(12):
        finish(account, error="login refused")
        gaps.append(gap(account))

    assert gaps == sorted(gaps)
    assert within(gaps[0], dt.timedelta(minutes=10))
    assert within(gaps[3], dt.timedelta(minutes=80))
    assert within(gaps[-1], MAX_BACKOFF)
    account.refresh_from_db()
    assert account.consecutive_failures == 12
    assert account.failure_summary.endswith(", 12 attempts")

    finish(account)

    account.refresh_from_db()
    assert (account.consecutive_failures, account.failing_since, account.failure_summary) == (
        0, None, "")
    assert within(gap(account), dt.timedelta(minutes=10))


def test_it_polls_at_the_account_then_user_then_global_frequency():
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(poll_minutes=30)
    own = plain_account(poll_minutes=3)
    users = plain_account()
    UserSettings.objects.create(mailbox=users.owner, poll_minutes=7)
    default = plain_account()

    for account in (own, users, default):
        finish(account)

    assert within(gap(own), dt.timedelta(minutes=3))
    assert within(gap(users), dt.timedelta(minutes=7))
    assert within(gap(default), dt.timedelta(minutes=30))


# --- what the admin sees, and the tasks ------------------------------------------


def test_it_summarises_failures_and_progress(admin_client):
    failing = plain_account()
    RemoteAccount.objects.filter(pk=failing.pk).update(
        consecutive_failures=4, failing_since=timezone.now() - dt.timedelta(hours=3)
    )
    failing.refresh_from_db()
    since = timezone.localtime(failing.failing_since).strftime("%Y-%m-%d %H:%M")

    assert failing.failure_summary == f"failing since {since}, 4 attempts"
    assert plain_account(username="fine").failure_summary == ""
    page = admin_client.get("/admin/retrieval/remoteaccount/").content.decode()
    assert f"failing since {since}, 4 attempts" in page
    assert Run(total=5, fetched=2).progress == (2, 5)
    assert Run(total=0, fetched=0).progress == (0, 0)


def test_failures_without_their_start_say_so_and_no_placeholder():
    account = plain_account()
    account.consecutive_failures = 2  # e.g. a row from before failing_since was kept

    assert account.failure_summary == "failing, 2 attempts in a row"


def test_it_declares_fetch_tasks_safe_to_run_twice_and_retries_only_transient_errors():
    assert fetch_account.acks_late and fetch_account.reject_on_worker_lost
    assert fetch_account.autoretry_for == TRANSIENT
    assert fetch_account.max_retries and fetch_account.retry_backoff
