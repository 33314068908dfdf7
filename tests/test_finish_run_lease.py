"""A session's end is one transaction (retrieval/status.py finish_run): its
history, hour and account status, and its lease, cleared there; the lease and
lock still go when that transaction fails."""

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from retrieval import engine
from retrieval.models import GlobalSettings, HourlyStats, RemoteAccount, Run
from tests.factories import make_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_retries():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=1, retry_seconds=0, timeout_seconds=5)


def leased(account) -> bool:
    return RemoteAccount.objects.get(pk=account.pk).lease_token is not None


def test_an_empty_poll_ends_in_one_transaction_and_clears_its_lease_once(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)

    with CaptureQueriesContext(connection) as queries:
        run = engine.run_account(account.pk, Run.Trigger.COMMAND)

    assert run.status == Run.Status.OK and not leased(account)
    sql = [q["sql"] for q in queries.captured_queries]
    # Cleared by finish_run's own update of the account, if still this session's...
    finish = [s for s in sql if s.startswith('UPDATE "retrieval_remoteaccount" SET "last_check"')]
    assert len(finish) == 1
    assert 'THEN NULL ELSE "retrieval_remoteaccount"."lease_token"' in finish[0]
    # ...and not written again, by a statement of its own or by release_lease.
    alone = 'UPDATE "retrieval_remoteaccount" SET "lease_token" = NULL'
    assert not [s for s in sql if s.startswith(alone)]
    # Nothing of the empty poll writes a zero into its run row.
    assert not [s for s in sql if s.startswith('UPDATE "retrieval_run"')
                and '"deleted" = ("retrieval_run"."deleted" + 0)' in s]
    assert HourlyStats.objects.get().runs_ok == 1


def test_the_lease_and_lock_go_even_when_the_end_fails(dovecot, mail_user, monkeypatch):
    account = make_account(dovecot, *mail_user)

    def broken(*args, **kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(HourlyStats, "record", broken)
    with pytest.raises(OperationalError):
        engine.run_account(account.pk, Run.Trigger.COMMAND)
    monkeypatch.undo()

    assert not leased(account)  # release_lease cleared it, the transaction having rolled back
    assert Run.objects.get().status == Run.Status.RUNNING  # rolled back with it; the reaper ends it
    again = engine.run_account(account.pk, Run.Trigger.COMMAND)  # not refused as busy
    assert again.status == Run.Status.OK
