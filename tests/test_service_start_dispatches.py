"""Switching the service on starts what fell due while it was stopped at once,
not at beat's next tick: both switches (the dashboard's and the settings page's)
send one dispatcher tick after the switch commits; switching off sends none."""

import pytest
from django.urls import reverse

from popadmin.celery import app
from retrieval import dispatcher
from retrieval.models import GlobalSettings, Run
from tests.factories import local_messages, make_account
from tests.workers import CeleryProcess, process_env, wait_for


def stop_service():
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(service_running=False)


@pytest.fixture
def sent(monkeypatch):
    tasks = []
    monkeypatch.setattr(app, "send_task", lambda name, *a, **kw: tasks.append((name, kw)))
    return tasks


@pytest.mark.django_db
def test_the_dashboard_switch_sends_a_tick_when_it_starts_the_service(
    admin_client, sent, django_capture_on_commit_callbacks
):
    stop_service()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("dashboard-service"), {"running": "1"})
    assert [name for name, _ in sent] == [dispatcher.TICK_TASK]
    assert sent[0][1]["queue"] == dispatcher.INTERACTIVE_QUEUE

    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):  # already running: no tick
        admin_client.post(reverse("dashboard-service"), {"running": "1"})
        admin_client.post(reverse("dashboard-service"), {"running": "0", "confirm": "1"})
    assert not GlobalSettings.load().service_running
    assert sent == []


@pytest.mark.django_db
def test_the_settings_page_sends_a_tick_only_when_it_switches_the_service_on(
    admin_client, sent, django_capture_on_commit_callbacks
):
    stop_service()
    url = reverse("admin:retrieval_globalsettings_change", args=[1])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items()
            if value is not None and not isinstance(value, (list, bool))}
    data.update({k: "\n".join(v) for k, v in form.initial.items() if isinstance(v, list)})
    data.update({k: "on" for k, v in form.initial.items() if v is True})

    with django_capture_on_commit_callbacks(execute=True):  # saved, still stopped
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert sent == []

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {**data, "service_running": "on"})
    assert GlobalSettings.load().service_running
    assert [name for name, _ in sent] == [dispatcher.TICK_TASK]

    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):  # running, saved again: no tick
        admin_client.post(url, {**data, "service_running": "on", "poll_minutes": "7"})
    assert GlobalSettings.load().poll_minutes == 7
    assert sent == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_worker_collects_at_the_switch_with_no_beat_running(
    admin_client, dovecot, mail_user, tmp_path
):
    stop_service()
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user)
    app.control.purge()
    # No beat: only the switch can dispatch. Ticks would come every 10 minutes.
    worker = CeleryProcess("worker", tmp_path, env=process_env(
        POPADMIN_CA_FILE=dovecot.ca_file, POPADMIN_DISPATCH_SECONDS=600), concurrency=1)
    worker.start()
    try:
        admin_client.post(reverse("dashboard-service"), {"running": "1"})
        wait_for(lambda: len(local_messages(account.owner)) == 3, timeout=60,
                 what="the three messages delivered after the switch")
        # The files land at the group's commit; the run ends a moment after.
        wait_for(lambda: Run.objects.filter(account=account, status=Run.Status.OK).exists(),
                 timeout=60, what="the run to end OK")
    finally:
        worker.stop()
