"""The dispatcher and session admission: who is due, in what order, and how
many sessions run at once (invariant "Global cap"), globally and per server."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connections
from django.utils import timezone

from popadmin.celery import app
from retrieval import admission, dispatcher
from retrieval.admission import BUSY, NO_SERVER_SLOT, NO_SLOT, NOT_DUE, SERVICE_STOPPED
from retrieval.locks import session_lock
from retrieval.models import AccountClaim, GlobalSettings, RemoteAccount, Run
from retrieval.models.account import enabled_account_count
from retrieval.status import MAX_JITTER, jitter
from retrieval.tasks import fetch_account
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

AGO = dt.timedelta(minutes=1)


def configure(**fields):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(**fields)


def make_accounts(n, host="pop.example.test", next_check=-AGO, **fields) -> list[RemoteAccount]:
    """n accounts due since `next_check` ago (a timedelta from now, or None)."""
    owner = make_mailbox()
    when = timezone.now() + next_check if isinstance(next_check, dt.timedelta) else next_check
    return RemoteAccount.objects.bulk_create(
        RemoteAccount(owner=owner, host=host, username=f"u{i}-{uuid.uuid4().hex[:6]}",
                      next_check=when, **fields)
        for i in range(n)
    )


def make_account(**fields) -> RemoteAccount:
    return make_accounts(1, **fields)[0]


@pytest.fixture
def requests(monkeypatch, django_capture_on_commit_callbacks):
    """dispatcher.request_check with the Celery send recorded."""
    sent = []
    monkeypatch.setattr(dispatcher, "enqueue_fetch",
                        lambda pk, trigger, task_id=None: sent.append((pk, trigger)))

    def request(ids, trigger=Run.Trigger.MANUAL):
        with django_capture_on_commit_callbacks(execute=True):
            return dispatcher.request_check(ids, trigger)

    request.sent = sent
    return request


def admit(account, trigger) -> admission.Admission:
    return admission.admit(account, 60, trigger)


def refused(account, trigger) -> str:
    """Why the session may not start; fails if it started."""
    admitted = admit(account, trigger)
    assert not admitted and admitted.token is None
    return admitted.reason


def hold(account, lease_seconds=60):
    """A session holds the account (a live lease and its lock), or held it and
    died (negative: a lease past its time, and no lock)."""
    if lease_seconds > 0:
        assert session_lock(account.pk).acquire()  # released after the test (conftest)
    RemoteAccount.objects.filter(pk=account.pk).update(
        lease_token=uuid.uuid4(),
        lease_expires=timezone.now() + dt.timedelta(seconds=lease_seconds),
    )


def pks(accounts):
    return [a.pk for a in accounts]


# --- who is due -------------------------------------------------------------------


def test_it_claims_due_enabled_accounts_only(dispatch):
    due, never_checked = make_account(), make_account(next_check=None)
    make_account(next_check=dt.timedelta(minutes=5))
    make_account(enabled=False)

    sent = dispatch()

    assert sorted(sent) == sorted([(due.pk, "schedule"), (never_checked.pk, "schedule")])
    assert dispatch() == []  # claimed: not queued again while the task waits


def test_it_dispatches_again_when_a_claim_runs_out(dispatch):
    lost = make_account()  # its task was queued, then the broker lost it
    AccountClaim.objects.create(account=lost, until=timezone.now() - AGO)

    assert dispatch() == [(lost.pk, "schedule")]


def test_it_does_nothing_while_the_service_is_stopped(dispatch, requests):
    account = make_account()
    configure(service_running=False)

    assert dispatch() == []
    assert requests([account.pk]) == []
    assert refused(account, "schedule") == SERVICE_STOPPED

    configure(service_running=True)
    assert dispatch() == [(account.pk, "schedule")]


# --- how many at once ------------------------------------------------------------


def test_it_admits_no_more_than_the_cap(dispatch):
    configure(max_concurrent_downloads=3)
    accounts = make_accounts(5)
    hold(accounts[0])

    first = dispatch()

    assert len(first) == 2  # one slot is taken by the running session
    assert dispatch() == []  # queued claims count against the cap too


@pytest.mark.parametrize(("enabled", "cap"), [(20, 10), (150, 15)])
def test_it_derives_the_automatic_cap_from_enabled_accounts(dispatch, enabled, cap):
    configure(max_concurrent_downloads=0, max_sessions_per_host=0)
    make_accounts(enabled)
    make_accounts(200, enabled=False)

    assert GlobalSettings.load().effective_max_concurrent(enabled_account_count()) == cap
    assert len(dispatch()) == cap


def test_it_counts_live_leases_only(dispatch):
    configure(max_concurrent_downloads=2)
    running, dead, waiting = make_accounts(3)
    hold(running)
    hold(dead, lease_seconds=-5)  # its worker was killed: the slot is free again

    sent = dispatch()

    assert [pk for pk, _ in sent] == [dead.pk]  # cap 2 minus the live one
    assert waiting.pk not in [pk for pk, _ in sent]


def test_it_keeps_to_the_per_server_limit_whatever_the_case(dispatch):
    configure(max_concurrent_downloads=10, max_sessions_per_host=2)
    big = make_accounts(3, host="pop.big.example") + make_accounts(3, host="POP.Big.Example")
    small = make_accounts(2, host="pop.small.example")
    hold(big[0])

    sent = [pk for pk, _ in dispatch()]

    assert len(set(sent) & set(pks(big))) == 1  # one running + one queued
    assert set(pks(small)) <= set(sent)


def test_it_skips_a_busy_server_without_losing_the_others(dispatch):
    # The big provider's backlog is in front of the line; the rest still runs.
    configure(max_concurrent_downloads=5, max_sessions_per_host=1)
    make_accounts(300, host="pop.big.example", next_check=-dt.timedelta(hours=1))
    others = make_accounts(4, next_check=-AGO)

    sent = [pk for pk, _ in dispatch()]

    assert len(sent) == 2  # one per server
    assert others[0].pk in sent


def test_it_serves_the_longest_waiting_first(dispatch):
    configure(max_concurrent_downloads=3)
    waits = [60, 600, 5, 7200, 3600]
    accounts = [make_account(next_check=-dt.timedelta(seconds=s)) for s in waits]

    sent = [pk for pk, _ in dispatch()]

    assert sent == [accounts[3].pk, accounts[4].pk, accounts[1].pk]


def test_it_hands_a_freed_slot_on_only_while_accounts_wait_for_one(
    dispatch, django_capture_on_commit_callbacks
):
    configure(max_concurrent_downloads=3, max_sessions_per_host=0)
    accounts = make_accounts(6)

    def refill():
        with django_capture_on_commit_callbacks(execute=True):
            return dispatcher.dispatch(lambda pk, trigger: None, refill=True)

    def finish(done):
        AccountClaim.objects.filter(account__in=pks(done)).delete()
        RemoteAccount.objects.filter(pk__in=pks(done)).update(
            next_check=timezone.now() + dt.timedelta(minutes=10))

    assert refill() == []  # no tick yet has seen anyone wait
    assert len(dispatch()) == 3  # every slot taken, three accounts left waiting
    finish(accounts[:1])
    assert refill() == [accounts[3].pk]
    finish(accounts[1:3])  # two sessions ended together: both slots handed on
    assert refill() == pks(accounts[4:6])
    finish(accounts[3:])
    assert refill() == []  # nobody waits any more: back to the tick alone
    make_account()
    assert refill() == []


# --- poll times -------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [1, 10, 60, 360])
def test_it_jitters_each_account_within_bounds(minutes):
    interval = dt.timedelta(minutes=minutes)
    bound = min(interval / 10, MAX_JITTER)
    shifts = [jitter(pk, interval) for pk in range(1, 5001)]

    assert all(dt.timedelta(0) <= s < bound for s in shifts)
    assert max(shifts) > bound * 0.99 and min(shifts) < bound * 0.01
    # Spread: 5,000 accounts made together land in thousands of distinct instants.
    assert len(set(shifts)) > 4000
    if 2 * interval / 10 <= MAX_JITTER:
        # Backoff doubles the interval; the shift doubles exactly with it.
        assert jitter(7, 2 * interval) == 2 * jitter(7, interval)


# --- requests: Check now, login ------------------------------------------------


def test_it_coalesces_requests(requests):
    fresh, running, queued, just_checked, checked_before, disabled = make_accounts(6)
    hold(running)
    requests([queued.pk])
    now = timezone.now()
    checked = RemoteAccount.objects.filter
    checked(pk=just_checked.pk).update(last_check=now - dt.timedelta(seconds=5))
    checked(pk=checked_before.pk).update(last_check=now - dt.timedelta(hours=1))
    RemoteAccount.objects.filter(pk=disabled.pk).update(enabled=False)
    ids = [fresh.pk, running.pk, queued.pk, just_checked.pk, checked_before.pk, disabled.pk]

    queued_now = requests([*ids, fresh.pk, 999_999], Run.Trigger.LOGIN)

    assert queued_now == [fresh.pk, checked_before.pk]
    assert requests.sent == [(queued.pk, "manual"), (fresh.pk, "login"),
                             (checked_before.pk, "login")]
    assert requests([fresh.pk]) == []  # its task is queued now
    with pytest.raises(ValueError):
        requests([fresh.pk], "whenever")


def test_it_routes_requests_to_the_interactive_queue(
    monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(app, "send_task",
                        lambda name, args, **options: sent.append((name, args, options["queue"])))
    account = make_account()

    with django_capture_on_commit_callbacks(execute=True):
        dispatcher.request_check([account.pk], Run.Trigger.MANUAL)

    # Sent by name (the dispatcher does not import the tasks): the real task's.
    assert sent == [(fetch_account.name, (account.pk, "manual"), "interactive")]
    # The router sends the same way whoever queues the task, and keeps the
    # dispatcher's own ticks out of the scheduled backlog.
    route = app.amqp.router.route
    for trigger, queue in [("manual", "interactive"), ("login", "interactive"),
                           ("admin", "interactive"), ("schedule", "celery"),
                           ("command", "celery")]:
        assert route({}, fetch_account.name, (1, trigger))["queue"].name == queue
    assert route({}, "retrieval.tasks.dispatch_due", ())["queue"].name == "interactive"
    assert route({"queue": "celery"}, fetch_account.name, (1, "manual"))["queue"].name == "celery"


def test_it_serves_waiting_requests_before_older_scheduled_work(dispatch, requests):
    configure(max_concurrent_downloads=1)
    old = make_accounts(3, next_check=-dt.timedelta(hours=2))
    asked = make_account(next_check=dt.timedelta(minutes=9))  # not due for a while
    hold(old[0])
    assert requests([asked.pk]) == [asked.pk]

    # Its task starts while the only slot is taken: it goes back in line, first.
    assert refused(asked, "manual") == NO_SLOT
    asked.refresh_from_db()
    assert asked.pending_trigger == "manual" and not AccountClaim.objects.filter(account=asked)
    assert asked.next_check <= timezone.now()
    RemoteAccount.objects.filter(pk=old[0].pk).update(lease_token=None)

    assert dispatch() == [(asked.pk, "manual")]
    token = admit(asked, "manual").token
    asked.refresh_from_db()
    assert token and asked.pending_trigger == "" and not AccountClaim.objects.filter(account=asked)


# --- claims and session start ------------------------------------------------------


def test_it_never_claims_an_account_twice(dispatch):
    configure(max_concurrent_downloads=50, max_sessions_per_host=0)
    make_accounts(30)

    first, second = dispatch(), dispatch()

    assert len(first) == 30 and second == []


@pytest.mark.django_db(transaction=True)
def test_it_never_claims_twice_when_dispatchers_race():
    configure(max_concurrent_downloads=12, max_sessions_per_host=0)
    make_accounts(40)
    sent = race(8, lambda: dispatcher.dispatch(lambda pk, trigger: None))

    claimed = [pk for result in sent for pk in result]
    assert len(claimed) == len(set(claimed)) == 12


def test_it_enforces_the_cap_where_the_session_starts():
    configure(max_concurrent_downloads=2, max_sessions_per_host=0)
    a, b, c = make_accounts(3)

    assert admit(a, "schedule") and admit(b, "schedule")
    assert refused(c, "manual") == NO_SLOT
    assert refused(c, "schedule") == NO_SLOT
    c.refresh_from_db()
    assert c.next_check < timezone.now()  # gave back its place in line, not lost it

    a.release_lease(RemoteAccount.objects.get(pk=a.pk).lease_token)
    assert admit(c, "schedule")


def test_it_enforces_the_per_server_limit_where_the_session_starts():
    configure(max_concurrent_downloads=10, max_sessions_per_host=1)
    here = make_account(host="localhost")
    also_here = make_account(host="LOCALHOST")
    elsewhere = make_account(host="127.0.0.1")

    assert admit(here, "schedule")
    assert refused(also_here, "schedule") == NO_SERVER_SLOT
    assert admit(elsewhere, "schedule")


def test_it_refuses_a_second_session_and_a_stale_scheduled_task():
    running, done = make_accounts(2)
    hold(running)
    RemoteAccount.objects.filter(pk=done.pk).update(
        next_check=timezone.now() + dt.timedelta(minutes=9)
    )

    assert refused(running, "manual") == BUSY
    # A scheduled task delivered twice (or late) finds the account already checked.
    assert refused(done, "schedule") == NOT_DUE
    assert admit(done, "manual")


@pytest.mark.django_db(transaction=True)
def test_it_admits_no_more_than_the_cap_when_workers_race():
    configure(max_concurrent_downloads=3, max_sessions_per_host=0)
    accounts = make_accounts(12)
    started = race(len(accounts), lambda a: admit(a, "schedule"), accounts)

    assert sum(1 for token in started if token) == 3
    assert RemoteAccount.objects.filter(lease_token__isnull=False).count() == 3


def race(n, work, items=None):
    """Run work(item) in n threads released together; returns the results."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        try:
            barrier.wait()
            results[i] = work(items[i]) if items else work()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results
