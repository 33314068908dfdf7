"""A run keeps the account's name as it was, the worker that ran it, and its retries."""

import datetime as dt
import os
import socket

import pytest

from retrieval import engine
from retrieval.models import GlobalSettings, Run
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def test_it_keeps_the_account_name_of_the_time(dovecot, mail_user):
    account = make_account(dovecot, *mail_user, name="Old name")
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    account.name = "New name"
    account.save()

    run.refresh_from_db()
    assert run.account_label == "Old name"


def test_it_labels_an_unnamed_account_by_login_and_server(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.account_label == f"{mail_user[0]}@localhost (POP3)"


def test_it_records_the_worker(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert Run.objects.get(pk=run.pk).worker == f"{socket.gethostname()}:{os.getpid()}"


def test_it_records_connection_attempts(dovecot, mail_user):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=3, retry_seconds=0, timeout_seconds=2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    account = make_account(dovecot, *mail_user, port=closed_port, host="127.0.0.1")

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    run.refresh_from_db()
    assert (run.attempt, run.attempts) == (3, 3)
    assert any("connection attempt 1 of 3 failed" in note for note in run.notes)
    assert any("connection attempt 2 of 3 failed" in note for note in run.notes)
    assert run.retry_state() == ""  # over: it says what happened, not "retrying"


def test_a_waiting_run_says_when_it_tries_again(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    run = Run.objects.create(account=account, trigger=Run.Trigger.SCHEDULE)

    run.retrying(1, 3, 30, "connection refused")

    stored = Run.objects.get(pk=run.pk)
    now = stored.next_try - dt.timedelta(seconds=30)  # the moment it started waiting
    assert stored.retry_state(now) == "attempt 2 of 3, next try in 30 s"
    assert stored.retry_state(now + dt.timedelta(seconds=31)) == "attempt 2 of 3"
    assert Run(status=Run.Status.RUNNING).retry_state() == ""
