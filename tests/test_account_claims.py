"""A queued task's claim is a row of its own (retrieval/models/claim.py): the
session start removes it, an expired one is ignored and overwritten, and it
goes with its account."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval import dispatcher
from retrieval.admission import NOT_DUE
from retrieval.dispatcher import claim_hold
from retrieval.models import AccountClaim, RemoteAccount
from tests.test_dispatcher import AGO, admit, configure, make_account, refused

pytestmark = pytest.mark.django_db


def claim_of(account):
    return AccountClaim.objects.filter(account=account).values_list("until", flat=True).first()


def test_a_tick_claims_until_the_hold_runs_out_and_the_session_start_removes_it(dispatch):
    account = make_account()
    before = timezone.now()

    assert dispatch() == [(account.pk, "schedule")]
    assert before + claim_hold() <= claim_of(account) <= timezone.now() + claim_hold()

    admission = admit(account, "schedule")
    assert admission and claim_of(account) is None
    RemoteAccount.objects.get(pk=account.pk).release_lease(admission.token)


def test_a_refused_start_removes_it():
    configure(service_running=True)
    account = make_account(next_check=dt.timedelta(minutes=5))  # a duplicate task
    AccountClaim.objects.create(account=account, until=timezone.now() + claim_hold())

    assert refused(account, "schedule") == NOT_DUE
    assert claim_of(account) is None


def test_an_expired_claim_is_ignored_and_overwritten(dispatch, django_capture_on_commit_callbacks):
    scheduled, asked = make_account(), make_account(next_check=dt.timedelta(minutes=5))
    for account in (scheduled, asked):  # the broker lost both tasks
        AccountClaim.objects.create(account=account, until=timezone.now() - AGO)

    with django_capture_on_commit_callbacks():  # queued, but no broker needed
        assert dispatcher.request_check([asked.pk], "manual") == [asked.pk]
    assert dispatch() == [(scheduled.pk, "schedule")]
    assert claim_of(scheduled) > timezone.now() and claim_of(asked) > timezone.now()
    assert AccountClaim.objects.count() == 2


def test_deleting_an_account_deletes_its_claim():
    account = make_account()
    AccountClaim.objects.create(account=account, until=timezone.now() + claim_hold())

    account.delete()

    assert not AccountClaim.objects.exists()
