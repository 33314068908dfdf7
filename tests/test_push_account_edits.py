"""An account edited while watched is signed in again with its new settings at the
watcher's next round; push switched off lets its connection go."""

import pytest

from retrieval.models import PushWatch, RemoteAccount
from tests.factories import make_account
from tests.watching import watcher_running
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def idle(account):
    return PushWatch.objects.filter(account=account, state="idle", watcher__gt="").first()


def test_a_new_login_is_used_at_the_next_round(dovecot, mail_user, settings):
    settings.POPADMIN_WATCH_LEASE_SECONDS = 6
    account = make_account(dovecot, *mail_user, protocol="imap")
    other_user, other_password = dovecot.add_user()
    with watcher_running():
        wait_for(lambda: idle(account), timeout=20, what="the account to be watched")
        account.refresh_from_db()
        account.username = other_user
        account.set_password(other_password)
        account.save()
        # Mail for the new login is pushed: the connection is the new one.
        dovecot.deliver(other_user, b"Subject: for the new login\n\nhi\n")
        wait_for(lambda: RemoteAccount.objects.get(pk=account.pk).push_seen, timeout=20,
                 what="the push from the new login")
        account.refresh_from_db()
        account.set_password("not the password any more")
        account.save()
        watch = wait_for(lambda: PushWatch.objects.filter(
            account=account, state="failing").first(), timeout=20, what="the new sign-in")
    assert "login refused by server" in watch.error


def test_push_switched_off_lets_the_connection_go(dovecot, mail_user, settings):
    settings.POPADMIN_WATCH_LEASE_SECONDS = 6
    account = make_account(dovecot, *mail_user, protocol="imap")
    with watcher_running() as watcher:
        wait_for(lambda: idle(account), timeout=20, what="the account to be watched")
        RemoteAccount.objects.filter(pk=account.pk).update(push=False)
        wait_for(lambda: account.pk not in watcher.tasks, timeout=20, what="the watch to end")
    assert PushWatch.objects.get(account=account).watcher == ""
