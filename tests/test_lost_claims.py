"""A claim whose task is lost stalls nothing for long: a task that cannot be
published releases its claim at once, and the next dispatcher tick releases
the claims whose task the broker no longer holds and no live worker
received (a broker restart, a killed worker's prefetched tasks), long before
the claim runs out. A task still waiting in the broker keeps its claim."""

import datetime as dt
import logging
import uuid
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from popadmin.celery import app
from retrieval import dispatcher, lost_claims, tasks, worker_claims, worker_lock
from retrieval.models import AccountClaim, GlobalSettings, Heartbeat, RemoteAccount
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def make_accounts(n, **fields):
    owner = make_mailbox()
    return RemoteAccount.objects.bulk_create(
        RemoteAccount(owner=owner, host="pop.example.test", username=f"u{uuid.uuid4().hex[:8]}",
                      next_check=timezone.now() - dt.timedelta(minutes=1), **fields)
        for _ in range(n))


def tick(capture, enqueue=lambda pk, trigger: None):
    with capture(execute=True):
        return dispatcher.dispatch(enqueue)


def age(seconds):
    """Every claim made `seconds` earlier than it was."""
    for claim in AccountClaim.objects.all():
        AccountClaim.objects.filter(pk=claim.pk).update(
            until=claim.until - dt.timedelta(seconds=seconds))


def past_grace():
    return lost_claims.pickup_grace().total_seconds() + 1


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", refuse)


def test_a_task_that_cannot_be_published_releases_its_claim(
        broker_down, django_capture_on_commit_callbacks, caplog):
    GlobalSettings.load()
    accounts = make_accounts(3)

    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        picked = dispatcher.dispatch()  # nothing escapes

    assert sorted(picked) == sorted(a.pk for a in accounts)
    assert not AccountClaim.objects.exists()
    assert "could not queue 3 check(s)" in caplog.text and "Traceback" not in caplog.text


def test_a_request_that_cannot_be_published_stays_first_in_line(
        broker_down, django_capture_on_commit_callbacks):
    GlobalSettings.load()
    account = make_accounts(1)[0]

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatcher.request_check([account.pk], "manual") == [account.pk]

    assert not AccountClaim.objects.exists()
    assert RemoteAccount.objects.get(pk=account.pk).pending_trigger == "manual"


def test_a_refill_with_the_broker_gone_raises_nothing_and_keeps_no_claim(
        broker_down, django_capture_on_commit_callbacks, caplog):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_concurrent_downloads=2, dispatch_backlog=True)
    make_accounts(3)

    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        tasks.refill()

    assert "could not queue 2 check(s)" in caplog.text
    assert not AccountClaim.objects.exists()


def test_the_next_tick_releases_claims_whose_task_the_broker_lost(
        django_capture_on_commit_callbacks):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_concurrent_downloads=2)
    accounts = make_accounts(2)
    capture = django_capture_on_commit_callbacks
    # Claimed, "published", and the broker restarted without the tasks.
    assert sorted(tick(capture)) == sorted(a.pk for a in accounts)
    assert tick(capture) == []  # the cap is full of claims

    age(past_grace())
    again = tick(capture)

    assert sorted(again) == sorted(a.pk for a in accounts)  # not 5 minutes later


def test_a_young_claim_is_left_alone(django_capture_on_commit_callbacks):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_concurrent_downloads=1)
    make_accounts(1)
    tick(django_capture_on_commit_callbacks)

    age(lost_claims.pickup_grace().total_seconds() - 3)
    assert tick(django_capture_on_commit_callbacks) == []


def test_a_task_still_waiting_in_the_broker_keeps_its_claim(
        settings, django_capture_on_commit_callbacks):
    # A queue of this test's own, which no worker consumes.
    name = f"test-lost-claims-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_QUEUES = {name: {"exchange": name, "exchange_type": "direct",
                                         "routing_key": name}}
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_concurrent_downloads=1)
    make_accounts(2)

    def publish(pk, trigger):
        task_id = AccountClaim.objects.get(account_id=pk).task_id
        app.send_task(dispatcher.FETCH_TASK, (pk, trigger), queue=name, task_id=task_id)

    try:
        assert len(tick(django_capture_on_commit_callbacks, publish)) == 1
        assert len(lost_claims.queued_task_ids() - {""}) == 1
        age(past_grace())
        assert tick(django_capture_on_commit_callbacks) == []  # kept: its task waits
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(name)


def received(account, worker, alive: bool):
    """A worker received the account's task; it runs still, or was just killed
    (its heartbeat still fresh: only its lock says it is gone)."""
    AccountClaim.objects.filter(account=account).update(worker=worker)
    Heartbeat.objects.create(role="worker", hostname=worker, pid=123, last_seen=timezone.now())
    if alive:
        assert worker_lock.lock_for(worker).acquire()  # released after the test (conftest)


def test_a_claim_held_by_a_dead_worker_is_released_one_held_by_a_live_worker_kept(
        django_capture_on_commit_callbacks):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_concurrent_downloads=2)
    killed, busy = make_accounts(2)
    tick(django_capture_on_commit_callbacks)
    received(killed, "w1@host", alive=False)  # prefetched, then the worker was killed
    received(busy, "w2@host", alive=True)
    assert worker_lock.alive(["w1@host", "w2@host"]) == {"w2@host"}

    age(past_grace())
    assert tick(django_capture_on_commit_callbacks) == [killed.pk]


def test_a_worker_marks_what_it_receives_and_hands_it_back_when_it_reconnects(
        django_capture_on_commit_callbacks):
    GlobalSettings.load()
    account = make_accounts(1)[0]
    tick(django_capture_on_commit_callbacks)
    claim = AccountClaim.objects.get()
    consumer = SimpleNamespace(hostname="w1@host")

    worker_claims._on_task_received(sender=consumer, request=SimpleNamespace(id=claim.task_id))
    assert AccountClaim.objects.get().worker == "w1@host"

    worker_claims.ClaimsStep(consumer).start(consumer)  # its broker connection came back
    assert AccountClaim.objects.get(account=account).worker == ""


def test_dashboard_and_healthz_tell_claimed_slots_from_running_ones(
        admin_client, client, django_capture_on_commit_callbacks):
    GlobalSettings.load()
    make_accounts(3)
    tick(django_capture_on_commit_callbacks)
    age(past_grace())  # waiting past the grace, and nothing runs

    html = admin_client.get(reverse("dashboard")).content.decode()
    assert "3 claimed, waiting for a worker" in html
    report = client.get(reverse("healthz") + "?only=slots").json()
    assert report["status"] == "failing"
    slots = report["checks"]["slots"]
    assert (slots["running"], slots["claimed_waiting"], slots["claimed_received"]) == (0, 3, 0)
    assert "3 claimed slot(s) waiting for a worker" in slots["error"]
    metrics = admin_client.get(reverse("metrics")).content.decode()
    assert 'popadmin_slots_claimed{state="waiting"} 3.0' in metrics


def test_the_broker_is_read_from_the_configured_queues():
    names = set(django_settings.CELERY_TASK_QUEUES)
    assert names == {dispatcher.INTERACTIVE_QUEUE, dispatcher.SCHEDULE_QUEUE}
