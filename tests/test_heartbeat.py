"""The heartbeat (retrieval.heartbeat): keeps a session's lease fresh, and
says so when the session no longer holds its account."""

import pytest
from django.db import connection
from django.utils import timezone

from retrieval import admission
from retrieval.heartbeat import Heartbeat, LeaseLost
from retrieval.models import RemoteAccount, Run
from tests.factories import make_mailbox
from tests.workers import wait_for

# The heartbeat writes from its own thread and connection: real commits.
pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = 0.6  # a beat every 0.2 s


@pytest.fixture
def session():
    account = RemoteAccount.objects.create(owner=make_mailbox(), host="pop.example.test",
                                           username="u")
    admitted = admission.admit(account, SECONDS, Run.Trigger.MANUAL)
    assert admitted, admitted.reason
    yield account, admitted.token
    account.release_lease(admitted.token)


def expires(account):
    return RemoteAccount.objects.values_list("lease_expires", flat=True).get(pk=account.pk)


def test_it_keeps_the_lease_fresh(session):
    account, token = session
    first = expires(account)

    with Heartbeat(account, token, SECONDS) as heartbeat:
        wait_for(lambda: timezone.now() > first, timeout=10, interval=0.05,
                 what="the first lease to run out")
        assert expires(account) > timezone.now()  # renewed meanwhile
        heartbeat.check()  # still ours


def test_it_says_when_another_session_took_over(session):
    account, token = session
    RemoteAccount.objects.filter(pk=account.pk).update(lease_token=None)

    with Heartbeat(account, token, SECONDS) as heartbeat:
        wait_for(lambda: heartbeat.lost, timeout=10, interval=0.05, what="the loss noticed")
        with pytest.raises(LeaseLost, match="another session took over"):
            heartbeat.check()


def test_it_says_when_the_lock_connection_dropped(session):
    account, token = session
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # what a database restart does to it
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_locks "
                           "WHERE locktype = 'advisory' AND objid = %s AND database = "
                           "(SELECT oid FROM pg_database WHERE datname = current_database())",
                           [account.pk])
    else:
        account.session_lock.release()  # a file lock only goes with its process

    with Heartbeat(account, token, SECONDS) as heartbeat:
        wait_for(lambda: heartbeat.lost, timeout=10, interval=0.05, what="the loss noticed")
        with pytest.raises(LeaseLost, match="session lock"):
            heartbeat.check()
