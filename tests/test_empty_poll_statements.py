"""SQL per empty scheduled poll (issue 12): most polls find nothing, so each
statement they spare is database time every worker gets back."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from retrieval import engine, locks
from retrieval.models import RemoteAccount, Run, UserSettings
from tests.factories import make_account

pytestmark = pytest.mark.django_db(transaction=True)


def poll(account):
    RemoteAccount.objects.filter(pk=account.pk).update(next_check=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        run = engine.run_account(account.pk, Run.Trigger.SCHEDULE)
    return run, [q["sql"] for q in queries.captured_queries]


def test_an_empty_scheduled_poll_costs_seventeen_statements(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    poll(account)  # the first poll of a new account has its own work (next_check, seen-state)

    run, sql = poll(account)

    assert run.status == Run.Status.OK and not run.fetched, run.error
    # Before: 24 (the run's row unlinked from deliveries before its delete,
    # the owner's settings, the default target and the global settings read
    # again, the lease cleared by a statement of its own, dead runs looked for).
    # On PostgreSQL the 17 count BEGIN, COMMIT and the claim's DELETE.
    assert len(sql) <= 17, "\n".join(s[:120] for s in sql)
    assert not any(s.startswith('UPDATE "delivery_delivery"') for s in sql)
    assert not any('FROM "delivery_deliverytarget"' in s for s in sql)
    assert sum(s.startswith("UPDATE \"retrieval_remoteaccount\"") for s in sql) == 2
    assert not Run.objects.filter(pk=run.pk).exists()
    stored = RemoteAccount.objects.get(pk=account.pk)
    assert stored.lease_token is None and stored.lease_expires is None
    assert stored.last_status == Run.Status.OK and stored.next_check > timezone.now()
    assert not locks.held([account.pk])


def test_the_owners_settings_still_apply_when_read_with_the_account(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    UserSettings.objects.create(mailbox=account.owner, poll_minutes=240)

    run, _sql = poll(account)

    assert run.status == Run.Status.OK, run.error
    waits = RemoteAccount.objects.get(pk=account.pk).next_check - timezone.now()
    assert dt.timedelta(hours=3, minutes=55) < waits < dt.timedelta(hours=4, minutes=30)


def test_a_poll_after_a_dead_session_still_ends_its_run(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    token = uuid.uuid4()
    dead = Run.objects.create(account=account, trigger=Run.Trigger.SCHEDULE, lease_token=token)
    # A killed worker's lease: on the row, its lock held by nobody.
    RemoteAccount.objects.filter(pk=account.pk).update(
        lease_token=token, lease_expires=timezone.now() + dt.timedelta(minutes=5)
    )

    run, _sql = poll(account)

    assert run.status == Run.Status.OK, run.error
    dead.refresh_from_db()
    assert dead.status == Run.Status.ERROR and "stopped unexpectedly" in dead.error
