"""A watched account that cannot sign in says why, plainly, and is polled again meanwhile."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval.models import PushWatch, RemoteAccount
from tests.factories import make_account
from tests.watching import watcher_running
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def failing(account):
    return PushWatch.objects.filter(account=account, state=PushWatch.State.FAILING,
                                    error__gt="").first()


def later(account):
    RemoteAccount.objects.filter(pk=account.pk).update(
        next_check=timezone.now() + dt.timedelta(hours=3))


def test_a_wrong_password_is_a_clear_error_on_the_account(dovecot, mail_user):
    account = make_account(dovecot, mail_user[0], "not the password", protocol="imap")
    with watcher_running():
        watch = wait_for(lambda: failing(account), timeout=20, what="the sign-in failure")
        assert "login refused by server" in watch.error
        assert "not the password" not in watch.error
        # The first failure after the claim makes the account due (it may have been on
        # a safety schedule); the retries after it leave the schedule, and a failing
        # account's back-off, alone: they never add logins to the polls' own.
        later(account)
        seen = watch.reconnects
        wait_for(lambda: failing(account).reconnects >= seen + 2, timeout=20,
                 what="two more attempts")
    assert RemoteAccount.objects.get(pk=account.pk).next_check > timezone.now()


def test_push_that_stops_working_makes_the_account_due_at_once(dovecot, mail_user):
    account = make_account(dovecot, *mail_user, protocol="imap")
    with watcher_running():
        wait_for(lambda: PushWatch.objects.filter(account=account, state="idle").exists(),
                 timeout=20, what="the account to be watched")
        later(account)  # as a session ends while push works: a safety check hours away
        account.refresh_from_db()
        account.set_password("changed meanwhile")
        account.save()
        dovecot.kick(mail_user[0])
        wait_for(lambda: failing(account), timeout=20, what="the failed sign-in")
    assert RemoteAccount.objects.get(pk=account.pk).next_check <= timezone.now()


def test_an_untrusted_certificate_is_a_clear_error_on_the_account(dovecot, mail_user, settings):
    settings.POPADMIN_CA_FILE = ""  # the test server's CA is not trusted any more
    account = make_account(dovecot, *mail_user, protocol="imap")
    with watcher_running():
        watch = wait_for(lambda: failing(account), timeout=20, what="the TLS failure")
    assert "TLS certificate of localhost is not trusted" in watch.error


def test_the_server_dropping_the_idle_connection_is_survived(dovecot, mail_user):
    account = make_account(dovecot, *mail_user, protocol="imap")
    with watcher_running():
        wait_for(lambda: PushWatch.objects.filter(account=account, state="idle").exists(),
                 timeout=20, what="the account to be watched")
        # Dovecot closes every session of the user (as a restart or an admin would).
        dovecot.kick(mail_user[0])
        wait_for(lambda: PushWatch.objects.filter(
            account=account, state="idle", reconnects__gte=1).exists(),
            timeout=30, what="the watcher to reconnect")
