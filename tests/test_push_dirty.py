"""A push while the account's fetch is queued or running leads to exactly one more fetch.

The watcher's push (retrieval/push.py) either queues a fetch at once or,
when one is queued or running, marks the account; the session's end then
queues exactly one more, so mail that lands during a session never waits
for the next poll. The last test plays it end to end: a real watcher and
worker, a message delivered through LMTP while a long fetch runs.
"""

import smtplib

import pytest
from django.db.models import Sum

from retrieval import admission, dispatcher, push
from retrieval.models import (
    AccountClaim,
    EffectiveSettings,
    GlobalSettings,
    HourlyStats,
    PushLatency,
    PushWatch,
    RemoteAccount,
    Run,
)
from retrieval.status import finish_run
from retrieval.tasks import fetch_account
from tests.factories import local_messages, make_account
from tests.workers import CeleryProcess, WatchProcess, process_env, start_together, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch):
    """The fetch tasks published, as (account id, trigger)."""
    published = []
    monkeypatch.setattr(dispatcher, "enqueue_fetch",
                        lambda pk, trigger, task_id=None: published.append((pk, trigger)))
    return published


def end_session(account, admitted, delivered=0):
    run = Run.objects.create(account=account, trigger=Run.Trigger.MANUAL,
                             lease_token=admitted.token, delivered=delivered,
                             fetched=delivered)
    knobs = EffectiveSettings.for_mailbox(account.owner, GlobalSettings.load(), None)
    finish_run(account, run, knobs, admitted.token)
    account.release_lease(admitted.token)
    return run


def test_a_push_to_a_free_account_queues_one_fetch_with_trigger_push(dovecot, mail_user, sent):
    account = make_account(dovecot, *mail_user, protocol="imap")
    assert push.notify(account.pk) == push.QUEUED
    assert sent == [(account.pk, "push")]
    assert AccountClaim.objects.filter(account=account).exists()
    # A second push while that fetch is queued marks it instead of queueing another.
    assert push.notify(account.pk) == push.DIRTY
    assert sent == [(account.pk, "push")]
    assert dispatcher.queue_for("push") == dispatcher.INTERACTIVE_QUEUE


def test_pushes_during_a_session_lead_to_exactly_one_more_fetch(dovecot, mail_user, sent):
    account = make_account(dovecot, *mail_user, protocol="imap")
    admitted = admission.admit(account, 300, Run.Trigger.MANUAL)
    assert admitted
    assert push.notify(account.pk) == push.DIRTY
    assert push.notify(account.pk) == push.DIRTY
    assert sent == []
    run = end_session(account, admitted)
    push.after_session(account.pk, run)
    push.after_session(account.pk, run)
    assert sent == [(account.pk, "push")]
    assert RemoteAccount.objects.get(pk=account.pk).push_dirty is False


def test_a_session_without_a_push_queues_nothing_more(dovecot, mail_user, sent):
    account = make_account(dovecot, *mail_user, protocol="imap")
    admitted = admission.admit(account, 300, Run.Trigger.MANUAL)
    push.after_session(account.pk, end_session(account, admitted))
    assert sent == []


def test_push_latency_counts_from_the_push_to_the_delivering_session(dovecot, mail_user, sent):
    account = make_account(dovecot, *mail_user, protocol="imap")
    assert push.notify(account.pk) == push.QUEUED
    seen = RemoteAccount.objects.get(pk=account.pk).push_seen
    assert seen is not None
    admitted = admission.admit(account, 300, Run.Trigger.PUSH)
    run = end_session(account, admitted, delivered=1)
    push.after_session(account.pk, run)
    buckets, count, total = PushLatency.cumulative()
    assert count == 1
    assert 0 <= total < 5
    assert buckets[-1][1] == 1
    assert RemoteAccount.objects.get(pk=account.pk).push_seen is None


def lmtp_deliver(dovecot, user: str, subject: str) -> None:
    message = (f"From: s@example.test\r\nSubject: {subject}\r\n"
               f"Message-ID: <{subject}@push.test>\r\n\r\nlate\r\n").encode()
    lmtp = smtplib.LMTP(dovecot.host, dovecot.lmtp_port, timeout=10)
    try:
        lmtp.sendmail("s@example.test", [user], message)
    finally:
        lmtp.quit()


def sessions_counted() -> int:
    sums = HourlyStats.objects.aggregate(
        ok=Sum("runs_ok"), partial=Sum("runs_partial"), error=Sum("runs_error"))
    return sum(v or 0 for v in sums.values())


def account_with_a_long_session(dovecot, mail_user):
    """An IMAP account whose first session is still running when a late message lands,
    fetching in one pass, so that the session itself does not list that message again."""
    dovecot.deliver_many(mail_user[0], 150, size=200_000)
    account = make_account(dovecot, *mail_user, protocol="imap",
                           keep_policy=RemoteAccount.Keep.KEEP)
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(messages_per_download=0)
    return account


def test_mail_that_lands_during_a_fetch_is_fetched_by_one_more_session(
        dovecot, mail_user, tmp_path):
    user = mail_user[0]
    account = account_with_a_long_session(dovecot, mail_user)
    env = process_env(POPADMIN_WATCH_LEASE_SECONDS=6)
    watcher, worker = start_together(
        WatchProcess(tmp_path, env=env),
        CeleryProcess("worker", tmp_path, env=env, concurrency=1, queues=("interactive", "celery")))
    try:
        wait_for(lambda: PushWatch.objects.filter(account=account, state="idle").exists(),
                 timeout=30, what="the account to be watched")
        fetch_account.delay(account.pk, Run.Trigger.MANUAL)
        wait_for(lambda: Run.objects.filter(account=account, status="running", delivered__gt=0)
                 .exists(), timeout=30, interval=0.02, what="the first session to deliver")
        lmtp_deliver(dovecot, user, "late-1")
        wait_for(lambda: any(b"Subject: late-1" in m for m in local_messages(account.owner)),
                 timeout=60, what="the late message")
        wait_for(lambda: sessions_counted() >= 2, timeout=30, what="the second session")
        # Nothing else is queued or running: the late message caused one session, not more.
        wait_for(lambda: not AccountClaim.objects.filter(account=account).exists()
                 and RemoteAccount.objects.get(pk=account.pk).lease_token is None,
                 timeout=30, what="the account to be idle")
    finally:
        worker.stop()
        watcher.stop()
    assert sessions_counted() == 2
    assert len(local_messages(account.owner)) == 151
