"""Cheap checks (retrieval/check_batch.py) against the real Dovecot: a batch of due
accounts checked together, only those with something to do handed to a fetch."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval import check_batch, engine, locks
from retrieval.models import (
    AccountClaim,
    CheckTotals,
    FolderMark,
    GlobalSettings,
    HourlyStats,
    RemoteAccount,
    Run,
)
from tests.factories import local_messages, make_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def roomy_cap():
    # The automatic cap of a handful of accounts is a few slots, and one server has 3.
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_concurrent_downloads=50, max_sessions_per_host=0)


def due(*accounts):
    past = timezone.now() - dt.timedelta(seconds=5)
    RemoteAccount.objects.filter(pk__in=[a.pk for a in accounts]).update(next_check=past)


def check(*accounts):
    """One batch; returns (summary, [(pk, trigger) handed to a fetch])."""
    due(*accounts)
    sent = []
    summary = check_batch.check_batch([a.pk for a in accounts],
                                      enqueue=lambda pk, trigger: sent.append((pk, trigger)))
    return summary, sent


def empty_polls() -> int:
    return sum(HourlyStats.objects.values_list("empty_polls", flat=True))


def fetch(account):
    run = engine.run_account(account.pk, Run.Trigger.SCHEDULE)
    assert run, run
    return Run.objects.filter(pk=run.pk).first() or run


def test_empty_accounts_are_checked_in_one_batch_without_run_rows(dovecot):
    accounts = [make_account(dovecot, *dovecot.add_user()) for _ in range(6)]
    accounts[1].protocol, accounts[1].port = "imap", dovecot.imaps_port
    accounts[1].save()
    before = timezone.now()

    summary, sent = check(*accounts)

    assert sorted(summary.empty) == sorted(a.pk for a in accounts), summary.reasons
    assert sent == []
    assert not Run.objects.exists()
    for row in RemoteAccount.objects.filter(pk__in=[a.pk for a in accounts]):
        assert row.last_check >= before and row.last_status == Run.Status.OK
        assert row.next_check > timezone.now() + dt.timedelta(minutes=4)
        assert row.lease_token is None and row.lease_expires is None
    assert empty_polls() == 6
    assert CheckTotals.objects.get().checks == 6
    assert not locks.held([a.pk for a in accounts])


def test_an_account_with_new_mail_is_fetched_and_the_mail_arrives(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    quiet = make_account(dovecot, *dovecot.add_user())
    dovecot.deliver_many(mail_user[0], 2)

    summary, sent = check(account, quiet)

    assert sent == [(account.pk, Run.Trigger.SCHEDULE)]
    assert summary.empty == [quiet.pk]
    assert summary.reasons[account.pk] == "new message"
    # Claimed for its fetch, lease and lock let go, still due: the fetch is admitted.
    row = RemoteAccount.objects.get(pk=account.pk)
    assert row.lease_token is None and row.claim.until > timezone.now()
    run = fetch(account)
    assert run.status == Run.Status.OK and run.delivered == 2, run.error
    assert len(local_messages(account.owner)) == 2
    # Taken and deleted: the next check finds nothing.
    summary, sent = check(account)
    assert summary.empty == [account.pk] and sent == []


def test_mail_kept_on_the_server_is_not_fetched_again(dovecot, mail_user):
    account = make_account(dovecot, *mail_user, keep_policy=RemoteAccount.Keep.KEEP)
    dovecot.deliver_many(mail_user[0], 1)
    assert check(account)[1]
    fetch(account)

    summary, sent = check(account)

    assert sent == [] and summary.empty == [account.pk]


def test_a_wrong_password_fails_with_the_same_words_as_a_fetch(dovecot, mail_user):
    name, password = mail_user
    account = make_account(dovecot, name, password + "x")
    twin = make_account(dovecot, name, password + "x")
    plain = fetch(twin)

    summary, sent = check(account)

    assert sent == [(account.pk, Run.Trigger.SCHEDULE)] and summary.reasons[account.pk]
    run = fetch(account)
    assert run.status == Run.Status.ERROR
    assert run.error == plain.error and "login refused" in run.error
    row = RemoteAccount.objects.get(pk=account.pk)
    assert row.consecutive_failures == 1 and row.last_error == plain.error


def imap_account(dovecot, user, **fields):
    return make_account(dovecot, *user, protocol="imap", keep_policy=RemoteAccount.Keep.KEEP,
                        **fields)


def test_imap_status_new_uidnext_fetches_and_the_same_does_not(dovecot, mail_user):
    account = imap_account(dovecot, mail_user)
    assert check(account)[1] == []  # an empty folder: marked, nothing to fetch
    mark = FolderMark.objects.get(account=account, folder="INBOX")
    assert mark.uidnext == 1 and mark.uidvalidity

    dovecot.deliver_many(mail_user[0], 1)
    summary, sent = check(account)
    assert sent and summary.reasons[account.pk] == "new message"
    assert FolderMark.objects.get(pk=mark.pk).pending_uidnext == 2
    run = fetch(account)
    assert run.delivered == 1, run.error

    for _ in range(2):  # same UIDNEXT: nothing, the mark now holds it
        summary, sent = check(account)
        assert sent == [] and summary.empty == [account.pk], summary.reasons
    assert FolderMark.objects.get(pk=mark.pk).uidnext == 2


def test_imap_a_failed_fetch_keeps_the_folder_due(dovecot, mail_user):
    account = imap_account(dovecot, mail_user)
    dovecot.deliver_many(mail_user[0], 1)
    assert check(account)[1]
    # The fetch did not happen (or failed): the next check still finds the message.
    RemoteAccount.objects.filter(pk=account.pk).update(last_status=Run.Status.ERROR,
                                                       last_check=timezone.now())
    assert check(account)[1]


def test_imap_a_changed_uidvalidity_fetches(dovecot, mail_user):
    account = imap_account(dovecot, mail_user)
    dovecot.deliver_many(mail_user[0], 1)
    check(account)
    fetch(account)
    assert check(account)[1] == []

    FolderMark.objects.filter(account=account).update(uidvalidity=12345)
    summary, sent = check(account)

    assert sent and summary.reasons[account.pk] == "folder renumbered"


def test_the_batch_keeps_to_the_per_server_limit(dovecot):
    GlobalSettings.objects.filter(pk=1).update(max_sessions_per_host=2)
    accounts = [make_account(dovecot, *dovecot.add_user()) for _ in range(5)]

    summary, _sent = check(*accounts)

    assert len(summary.empty) == 2 and len(summary.refused) == 3
    # Waiting order: the first two in line were checked.
    assert summary.empty == [a.pk for a in accounts[:2]]
    for row in RemoteAccount.objects.filter(pk__in=summary.refused):
        # Back in line: still due, unchecked, neither leased nor claimed.
        assert row.last_check is None and row.next_check <= timezone.now()
        assert row.lease_token is None
        assert not AccountClaim.objects.filter(account_id=row.pk).exists()


def test_an_account_another_session_holds_is_not_checked(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    other = locks.session_lock(account.pk)
    assert other.acquire()
    try:
        summary, sent = check(account)
    finally:
        other.release()
    assert summary.refused == [account.pk] and sent == []


def test_oauth_accounts_go_to_the_full_fetch(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    RemoteAccount.objects.filter(pk=account.pk).update(auth_method="xoauth2")

    summary, sent = check(account)

    assert sent == [(account.pk, Run.Trigger.SCHEDULE)]
    # Handed on before its token would be refreshed (an HTTP call) inside the batch.
    assert summary.reasons[account.pk] == "OAuth2 sign-in"


def test_the_batch_keeps_to_the_global_cap(dovecot):
    GlobalSettings.objects.filter(pk=1).update(max_concurrent_downloads=3)
    accounts = [make_account(dovecot, *dovecot.add_user()) for _ in range(4)]
    running = make_account(dovecot, *dovecot.add_user())
    RemoteAccount.objects.filter(pk=running.pk).update(
        lease_token="00000000-0000-0000-0000-000000000001",
        lease_expires=timezone.now() + dt.timedelta(minutes=5))

    summary, _sent = check(*accounts)

    assert len(summary.empty) == 2 and len(summary.refused) == 2


def test_an_edited_account_loses_its_folder_marks(dovecot, mail_user):
    from retrieval import status

    account = imap_account(dovecot, mail_user)
    check(account)
    assert FolderMark.objects.filter(account=account).exists()

    status.reset_after_edit(account)

    assert not FolderMark.objects.filter(account=account).exists()


def test_imap_new_mail_in_a_second_folder_is_found(dovecot, mail_user):
    account = imap_account(dovecot, mail_user, folders=["INBOX", "Work"])
    dovecot._ensure_maildir(mail_user[0], "Work")
    assert check(account)[1] == []
    assert set(FolderMark.objects.filter(account=account).values_list("folder", flat=True)) \
        == {"INBOX", "Work"}

    dovecot.deliver_many(mail_user[0], 1, folder="Work")
    summary, sent = check(account)

    assert sent and summary.reasons[account.pk] == "new message"


def test_a_server_that_never_answers_is_handed_to_the_fetch(dovecot, mail_user):
    import socket

    # A fault Dovecot will not produce: the connection opens, no greeting comes.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        GlobalSettings.objects.filter(pk=1).update(timeout_seconds=1)
        account = make_account(dovecot, *mail_user, host="127.0.0.1",
                               port=silent.getsockname()[1], verify_tls=False)
        started = timezone.now()

        summary, sent = check(account)
    finally:
        silent.close()

    assert sent == [(account.pk, Run.Trigger.SCHEDULE)]
    assert "timed out" in summary.reasons[account.pk]
    assert timezone.now() - started < dt.timedelta(seconds=10)
    row = RemoteAccount.objects.get(pk=account.pk)
    # Nothing judged by the check: the fetch will say what went wrong.
    assert row.last_check is None and row.consecutive_failures == 0
