"""The kind of an account's last error (RemoteAccount.last_error_kind), kept by
finish_run from what the run met: a full mailbox, full local storage, or neither.
The "mailbox full" list and the alerts read it instead of the error's words."""

import pytest
from django.utils import timezone

from delivery.backends import MAILBOX_FULL, STORAGE_FULL
from delivery.router import Failure
from retrieval.models import EffectiveSettings, RemoteAccount, Run
from retrieval.status import finish_run
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

REFUSAL = "local disk full: cannot write to mailbox /m/x/a: No space left on device"


def a_run() -> Run:
    account = RemoteAccount.objects.create(owner=make_mailbox(), host="pop.example.test",
                                           username="someone")
    return Run.objects.create(account=account, trigger=Run.Trigger.SCHEDULE,
                              started=timezone.now())


def finish(run) -> RemoteAccount:
    finish_run(run.account, run, EffectiveSettings.for_mailbox(run.account.owner))
    return RemoteAccount.objects.get(pk=run.account_id)


def test_a_refused_write_makes_an_error_of_the_storage_kind():
    run = a_run()
    run.failed = 1
    run.destination_refused(REFUSAL)

    account = finish(run)

    assert run.status == Run.Status.ERROR
    assert account.last_error == f"{REFUSAL}; mail left on the server"
    assert account.last_error_kind == STORAGE_FULL
    assert account.consecutive_failures == 1


def test_a_later_error_in_its_place_is_of_no_kind():
    run = a_run()
    run.destination_refused(REFUSAL)
    run.error = "connection lost while logging out"

    assert finish(run).last_error_kind == ""


def test_a_full_mailbox_is_named_over_an_earlier_failure_and_kept_by_kind():
    run = a_run()
    run.failed = 2
    run.remember_failure(Failure("message 1: not delivered (temporary): 451 try later"))
    run.remember_failure(Failure("message 2: not delivered (temporary): over quota",
                                 MAILBOX_FULL))
    run.remember_failure(Failure("message 3: not delivered (temporary): 451 again"))

    account = finish(run)

    assert run.status == Run.Status.PARTIAL
    assert account.last_error.endswith("message 2: not delivered (temporary): over quota")
    assert account.last_error_kind == MAILBOX_FULL


def test_an_ok_run_clears_the_kind():
    run = a_run()
    RemoteAccount.objects.filter(pk=run.account_id).update(last_error_kind=STORAGE_FULL)

    assert finish(run).last_error_kind == ""
