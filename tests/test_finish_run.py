"""finish_run (retrieval/status.py): how one finished run sets its status, the
account's visible state, its next check (back-off and jitter) and its hour's totals."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval.models import EffectiveSettings, GlobalSettings, HourlyStats, RemoteAccount, Run
from retrieval.status import MAX_BACKOFF, MAX_JITTER, finish_run, jitter
from tests.factories import make_mailbox

TEN_MINUTES = dt.timedelta(minutes=10)


def an_account(**fields) -> RemoteAccount:
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(poll_minutes=10)
    return RemoteAccount.objects.create(
        owner=make_mailbox(), host="pop.example.test", username="someone", **fields
    )


def finish(account, started=None, **fields) -> Run:
    run = Run.objects.create(
        account=account, trigger=Run.Trigger.SCHEDULE, started=started or timezone.now()
    )
    # As the engine does: the counts and the error are set in memory, then finish_run saves.
    for name, value in fields.items():
        setattr(run, name, value)
    finish_run(account, run, EffectiveSettings.for_mailbox(account.owner))
    return run


def row(account) -> RemoteAccount:
    return RemoteAccount.objects.get(pk=account.pk)


def gap(account) -> dt.timedelta:
    saved = row(account)
    return saved.next_check - saved.last_check


# -- status -----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_calls_a_clean_run_ok_and_clears_the_last_error():
    account = an_account()
    RemoteAccount.objects.filter(pk=account.pk).update(last_error="old trouble")

    run = finish(account, fetched=2, delivered=2, deleted=2)

    saved = Run.objects.get(pk=run.pk)
    assert (saved.status, saved.error) == (Run.Status.OK, "")
    assert saved.finished is not None and saved.finished >= saved.started
    assert (row(account).last_status, row(account).last_error) == (Run.Status.OK, "")
    assert row(account).last_check == saved.finished


@pytest.mark.django_db
def test_it_calls_a_run_with_an_error_an_error_and_stores_it_printable():
    account = an_account()

    run = finish(account, error="server said: \x00bad\x1b[31m\nreply", failed=1)

    saved = Run.objects.get(pk=run.pk)
    # An error wins over failed messages; control characters never reach the database.
    assert saved.status == Run.Status.ERROR
    assert saved.error == "server said: \ufffdbad\ufffd[31m reply"
    assert (row(account).last_status, row(account).last_error) == (Run.Status.ERROR, saved.error)


@pytest.mark.django_db
def test_it_calls_a_run_with_failed_messages_partial_and_says_why():
    account = an_account()
    note = "message uid-3: not delivered: mailbox full"

    run = finish(account, fetched=3, delivered=1, failed=2, notes=["kept 1 on the server", note],
                 first_failure=note)

    saved = Run.objects.get(pk=run.pk)
    assert saved.status == Run.Status.PARTIAL
    assert saved.error == (
        f"2 message(s) could not be delivered and stay on the server; {note}"
    )
    assert row(account).last_error == saved.error


@pytest.mark.django_db
def test_a_partial_run_without_a_reason_in_its_notes_says_only_what_failed():
    run = finish(an_account(), fetched=1, failed=1, notes=["something else"])

    assert Run.objects.get(pk=run.pk).error == (
        "1 message(s) could not be delivered and stay on the server"
    )


# -- failures and back-off ----------------------------------------------------------


@pytest.mark.django_db
def test_it_counts_failures_from_the_first_failed_run_and_forgets_them_on_success():
    account = an_account()
    first_start = timezone.now() - dt.timedelta(hours=2)

    finish(account, started=first_start, error="login refused")
    finish(account, error="login refused")

    assert (row(account).consecutive_failures, row(account).failing_since) == (2, first_start)
    finish(account, fetched=1, failed=1)  # partial is not a failure of the account
    assert (row(account).consecutive_failures, row(account).failing_since) == (0, None)


@pytest.mark.django_db
def test_it_doubles_the_interval_per_failure_exactly_up_to_the_cap():
    account = an_account()
    expected = []
    for failures in range(1, 9):
        interval = min(TEN_MINUTES * 2 ** (failures - 1), MAX_BACKOFF)
        expected.append(interval + jitter(account.pk, interval))

    gaps = []
    for _ in range(8):
        finish(account, error="connection refused")
        gaps.append(gap(account))

    # 10, 20, 40, 80, 160, 320 minutes, then the 6 h cap.
    assert gaps == expected
    assert gaps[-1] == gaps[-2] == MAX_BACKOFF + jitter(account.pk, MAX_BACKOFF)


@pytest.mark.django_db
def test_it_never_shortens_an_interval_already_longer_than_the_cap():
    account = an_account(poll_minutes=24 * 60)
    day = dt.timedelta(days=1)

    finish(account, error="connection refused")
    finish(account, error="connection refused")

    assert gap(account) == day + jitter(account.pk, day)


@pytest.mark.django_db
def test_it_keeps_the_exponent_bounded_after_many_failures():
    account = an_account(poll_minutes=1)
    RemoteAccount.objects.filter(pk=account.pk).update(consecutive_failures=10_000)

    finish(account, error="connection refused")

    assert gap(account) == MAX_BACKOFF + jitter(account.pk, MAX_BACKOFF)
    assert row(account).consecutive_failures == 10_001


@pytest.mark.django_db
def test_the_next_check_after_success_is_the_plain_interval_plus_jitter():
    account = an_account(poll_minutes=3)
    RemoteAccount.objects.filter(pk=account.pk).update(consecutive_failures=5)

    finish(account)

    three = dt.timedelta(minutes=3)
    assert gap(account) == three + jitter(account.pk, three)


@pytest.mark.django_db
def test_a_run_stopped_early_is_due_again_at_once_even_after_an_error():
    account = an_account()
    run = Run.objects.create(account=account, trigger=Run.Trigger.SCHEDULE, error="cut short")
    run.stopped_early = True

    finish_run(account, run, EffectiveSettings.for_mailbox(account.owner))

    assert gap(account) == dt.timedelta(0)
    assert row(account).consecutive_failures == 1  # the failure still counts


# -- jitter -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "interval", [dt.timedelta(minutes=1), TEN_MINUTES, dt.timedelta(hours=2), MAX_BACKOFF]
)
def test_jitter_stays_within_a_tenth_of_the_interval_and_the_cap(interval):
    bound = min(interval / 10, MAX_JITTER)
    shares = {jitter(pk, interval) for pk in range(1, 2001)}

    assert all(dt.timedelta(0) <= share < bound for share in shares)
    # Spread over the whole range, so accounts created together do not come due together.
    assert len(shares) > 1900 and max(shares) > bound * 0.99


def test_jitter_is_fixed_per_account_and_doubles_with_the_interval():
    for pk in (1, 2, 77, 123_456):
        assert jitter(pk, TEN_MINUTES) == jitter(pk, TEN_MINUTES)
        assert jitter(pk, 2 * TEN_MINUTES) == 2 * jitter(pk, TEN_MINUTES)
    assert jitter(1, TEN_MINUTES) != jitter(2, TEN_MINUTES)


# -- hourly totals ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_adds_each_run_to_its_hour():
    account = an_account()
    started = timezone.now() - dt.timedelta(seconds=3)

    finish(account, started=started, fetched=4, delivered=3, failed=1, bytes=4096)
    finish(account, error="connection refused")
    finish(account)  # nothing new: an empty poll
    finish(account, deleted=2)  # only deletions left over: not empty

    hours = HourlyStats.objects.all()  # usually one row; two if the hour turned meanwhile
    totals = {
        name: sum(getattr(h, name) for h in hours)
        for name in ("runs_ok", "runs_partial", "runs_error", "empty_polls", "messages",
                     "delivered", "failed", "bytes")
    }  # fmt: skip
    assert totals == {
        "runs_ok": 2, "runs_partial": 1, "runs_error": 1, "empty_polls": 1,
        "messages": 4, "delivered": 3, "failed": 1, "bytes": 4096,
    }  # fmt: skip
    assert 3 <= sum(h.seconds for h in hours) < 60
