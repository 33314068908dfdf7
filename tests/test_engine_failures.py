"""Every failure ends as a Run with a readable reason, and nothing is lost."""

import socket

import pytest
from django.db import OperationalError

from retrieval import admission, engine
from retrieval.models import GlobalSettings, RemoteAccount, Run
from retrieval.status import reap_stale_runs
from tests.factories import local_messages, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_retries():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=2, retry_seconds=0, timeout_seconds=2
    )


def test_it_reports_a_wrong_password(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, mail_user[0], "not-the-password")

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert "login refused" in run.error
    assert "not-the-password" not in run.error
    assert len(dovecot.messages(mail_user[0])) == 2
    account.refresh_from_db()
    assert account.last_status == "error"
    assert account.last_error == run.error
    assert account.consecutive_failures == 1 and account.failing_since is not None


def test_it_reports_a_refused_connection(dovecot, mail_user):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    account = make_account(dovecot, *mail_user, port=closed_port, host="127.0.0.1")

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert "refused" in run.error and "gave up after 2 attempts" in run.error


def test_it_reports_a_timeout(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 1)
    # A listening socket that never accepts: the TCP handshake succeeds, the
    # greeting never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        account = make_account(
            dovecot, *mail_user, port=silent.getsockname()[1], host="127.0.0.1", security="none"
        )
        run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert "2 s" in run.error or "timed out" in run.error, run.error
    assert len(dovecot.messages(mail_user[0])) == 1


def test_it_refuses_an_untrusted_certificate(dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = None
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert "certificate" in run.error
    assert len(dovecot.messages(mail_user[0])) == 1
    assert local_messages(account.owner) == []


def test_it_connects_without_verification_when_the_admin_says_so(dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = None
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, verify_tls=False)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert run.delivered == 1


def test_it_skips_an_account_whose_lease_is_held(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user)
    assert admission.admit(account, 60, Run.Trigger.MANUAL)  # its lock too, held here

    refused = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert not refused and refused.reason == admission.BUSY
    assert not Run.objects.filter(account=account).exists()
    assert len(dovecot.messages(mail_user[0])) == 1


def test_it_takes_over_an_expired_lease(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user)
    assert account.take_lease(-1)  # a worker died holding it (its lock went with it)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK and run.delivered == 1


def test_it_takes_over_a_lease_whose_holder_died_before_it_expires(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user)
    # A lease row far from expiring, but nobody holds its lock: a killed worker's.
    token = account.take_lease(3600)
    orphan = Run.objects.create(account=account, trigger="schedule", lease_token=token)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK and run.delivered == 1
    orphan.refresh_from_db()
    assert orphan.status == Run.Status.ERROR and "stopped unexpectedly" in orphan.error


def test_it_frees_the_account_when_finishing_the_run_fails(dovecot, mail_user, monkeypatch):
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user)
    finish_run = engine.finish_run

    def database_gone(*args):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(engine, "finish_run", database_gone)
    with pytest.raises(OperationalError):
        engine.run_account(account.pk, Run.Trigger.MANUAL)
    monkeypatch.setattr(engine, "finish_run", finish_run)

    # The task retries that error (tasks.TRANSIENT): the retry must find the
    # account free, not busy until the lease runs out.
    retry = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert retry is not None and retry.status == Run.Status.OK
    assert len(local_messages(account.owner)) == 1


def test_it_ends_runs_of_dead_workers(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    token = account.take_lease(-1)
    run = Run.objects.create(account=account, trigger="schedule", lease_token=token)

    assert reap_stale_runs() == 1

    run.refresh_from_db()
    assert run.status == Run.Status.ERROR and run.finished
    assert "stopped unexpectedly" in run.error


def test_it_leaves_live_runs_alone(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    token = admission.admit(account, 60, Run.Trigger.MANUAL).token
    Run.objects.create(account=account, trigger="schedule", lease_token=token)

    assert reap_stale_runs() == 0


def test_it_backs_off_after_repeated_failures(dovecot, mail_user):
    account = make_account(dovecot, mail_user[0], "wrong")
    engine.run_account(account.pk, Run.Trigger.MANUAL)
    first = RemoteAccount.objects.get(pk=account.pk)
    engine.run_account(account.pk, Run.Trigger.MANUAL)
    second = RemoteAccount.objects.get(pk=account.pk)

    assert second.consecutive_failures == 2
    assert second.failing_since == first.failing_since
    assert (second.next_check - second.last_check) == 2 * (first.next_check - first.last_check)


def test_an_unverified_account_is_marked_by_a_badge_not_in_its_name(dovecot, mail_user):
    from retrieval.admin.display import TLS_WARNING, kind_label

    account = make_account(dovecot, *mail_user, verify_tls=False)
    Run.objects.create(account=account, trigger="manual")

    # The name stays the name wherever it is used; lists mark the account with a badge.
    assert "not verified" not in str(account)
    assert TLS_WARNING in kind_label(account) and "popadmin-badge" in kind_label(account)
    account.verify_tls = True
    assert TLS_WARNING not in kind_label(account)
