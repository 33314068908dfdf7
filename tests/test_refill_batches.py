"""A finished session hands on free slots (tasks.refill) only while the cap
binds and once a few are free (dispatcher.refill_wanted): a batch of claims
per admission lock instead of one per session."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from retrieval import dispatcher
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount
from retrieval.models.account import enabled_account_count
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def accounts(n, **fields):
    owner = make_mailbox()
    return RemoteAccount.objects.bulk_create(
        RemoteAccount(owner=owner, host="pop.example.test", username=f"u{i}-{uuid.uuid4().hex[:6]}",
                      next_check=timezone.now() - dt.timedelta(minutes=1), **fields)
        for i in range(n)
    )


def configure(**fields):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(**fields)
    enabled_account_count(max_age=0)  # the cap's input, fresh


def in_flight(rows, n):
    """n of them queued (a live claim), as a dispatcher tick leaves them."""
    until = timezone.now() + dt.timedelta(minutes=5)
    AccountClaim.objects.bulk_create(
        [AccountClaim(account=a, until=until) for a in rows[:n]],
        update_conflicts=True,
        unique_fields=["account"],
        update_fields=["until"],
    )


def test_it_waits_for_a_few_free_slots_under_a_large_cap():
    rows = accounts(200)
    configure(max_concurrent_downloads=100, dispatch_backlog=True)

    in_flight(rows, 100)
    assert not dispatcher.refill_wanted()  # nothing free
    in_flight(rows[3:], 100 - 3)
    AccountClaim.objects.filter(account__in=rows[:3]).delete()
    assert not dispatcher.refill_wanted()  # 3 free: not yet
    AccountClaim.objects.filter(account=rows[3]).delete()
    assert dispatcher.refill_wanted()  # 4 free: one batch under one lock


def test_every_free_slot_counts_under_a_small_cap():
    rows = accounts(30)
    configure(max_concurrent_downloads=10, dispatch_backlog=True)

    in_flight(rows, 10)
    assert not dispatcher.refill_wanted()
    AccountClaim.objects.filter(account=rows[0]).delete()
    assert dispatcher.refill_wanted()


def test_it_never_refills_without_a_backlog_or_with_the_service_stopped():
    accounts(30)
    configure(max_concurrent_downloads=10, dispatch_backlog=False)
    assert not dispatcher.refill_wanted()

    configure(dispatch_backlog=True, service_running=False)
    assert not dispatcher.refill_wanted()


def test_the_refill_it_allows_claims_the_free_slots(django_capture_on_commit_callbacks):
    rows = accounts(200)
    configure(max_concurrent_downloads=100, dispatch_backlog=True, max_sessions_per_host=0)
    in_flight(rows, 100 - dispatcher.REFILL_MAX)
    assert dispatcher.refill_wanted()

    sent = []
    with django_capture_on_commit_callbacks(execute=True):
        claimed = dispatcher.dispatch(lambda pk, trigger: sent.append(pk), refill=True)

    assert len(claimed) == dispatcher.REFILL_MAX == len(sent)
    assert not dispatcher.refill_wanted()
