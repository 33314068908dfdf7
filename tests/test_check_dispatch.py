"""The dispatcher queues scheduled accounts as cheap-check batches, requests as fetches."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval import dispatcher
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount, Run
from tests.factories import make_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch, django_capture_on_commit_callbacks):
    record = {"checks": [], "fetches": []}
    monkeypatch.setattr(dispatcher, "enqueue_check",
                        lambda pks, tid: record["checks"].append((list(pks), tid)))
    monkeypatch.setattr(dispatcher, "enqueue_fetch",
                        lambda pk, trigger, tid=None: record["fetches"].append((pk, trigger)))
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_concurrent_downloads=50,
                                               max_sessions_per_host=0)
    return record


def tick(capture):
    with capture(execute=True):
        return dispatcher.dispatch()


def test_scheduled_accounts_go_in_batches_and_requests_to_a_fetch(
        dovecot, sent, settings, django_capture_on_commit_callbacks):
    settings.POPADMIN_CHECK_BATCH = 2
    accounts = [make_account(dovecot, *dovecot.add_user()) for _ in range(5)]
    past = timezone.now() - dt.timedelta(minutes=1)
    RemoteAccount.objects.update(next_check=past)
    RemoteAccount.objects.filter(pk=accounts[0].pk).update(pending_trigger="manual")

    tick(django_capture_on_commit_callbacks)

    assert sent["fetches"] == [(accounts[0].pk, "manual")]
    batches = sent["checks"]
    assert [pks for pks, _ in batches] == [[a.pk for a in accounts[1:3]],
                                          [a.pk for a in accounts[3:5]]]
    # Each claim names its batch's task, so a lost batch frees its accounts.
    for pks, task_id in batches:
        assert set(AccountClaim.objects.filter(task_id=task_id)
                   .values_list("account_id", flat=True)) == set(pks)
    # Claimed: the next tick queues none of them again.
    sent["checks"].clear()
    tick(django_capture_on_commit_callbacks)
    assert sent["checks"] == []


def test_a_zero_batch_size_fetches_every_due_account(
        dovecot, sent, settings, django_capture_on_commit_callbacks):
    settings.POPADMIN_CHECK_BATCH = 0
    account = make_account(dovecot, *dovecot.add_user())
    RemoteAccount.objects.update(next_check=timezone.now() - dt.timedelta(minutes=1))

    tick(django_capture_on_commit_callbacks)

    assert sent["fetches"] == [(account.pk, Run.Trigger.SCHEDULE)] and sent["checks"] == []


def test_the_check_task_checks_and_hands_on(dovecot, sent, settings, mail_user):
    from retrieval import tasks

    quiet = make_account(dovecot, *dovecot.add_user())
    busy = make_account(dovecot, *mail_user)
    dovecot.deliver_many(mail_user[0], 1)
    RemoteAccount.objects.update(next_check=timezone.now() - dt.timedelta(minutes=1))

    assert tasks.check_accounts.run([quiet.pk, busy.pk]) == 1

    assert sent["fetches"] == [(busy.pk, Run.Trigger.SCHEDULE)]
    assert not Run.objects.exists()
    assert RemoteAccount.objects.get(pk=quiet.pk).last_status == Run.Status.OK
