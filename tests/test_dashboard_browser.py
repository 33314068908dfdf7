"""The operator's view in headless Chromium: a staff user logs in and lands on the
dashboard, watches a real session (a real worker, a real Dovecot) move the counters
and charts without reloading, sees a killed worker go silent, and stops and starts
the service. Screenshots at desktop and phone widths go to tests/artifacts/."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from popadmin.celery import app
from retrieval import alerts, dispatcher
from retrieval.models import GlobalSettings, Run
from tests.browser import (
    ASYNC_UNSAFE,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.factories import make_account
from tests.workers import CeleryProcess, process_env, start_together, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

PASSWORD = "dashboard admin password"


@pytest.fixture
def processes(dovecot, settings, tmp_path):
    settings.POPADMIN_HEARTBEAT_SECONDS = 1
    app.control.purge()
    env = process_env(POPADMIN_CA_FILE=dovecot.ca_file, POPADMIN_HEARTBEAT_SECONDS=1,
                      POPADMIN_DISPATCH_SECONDS=2)
    env.pop(ASYNC_UNSAFE, None)
    worker = CeleryProcess("worker", tmp_path, env=env, concurrency=1,
                           queues=(dispatcher.SCHEDULE_QUEUE, dispatcher.INTERACTIVE_QUEUE))
    beat = CeleryProcess("beat", tmp_path, env=env)
    start_together(worker, beat)
    yield worker, beat
    worker.stop()
    beat.stop()


def shoot(page, name):

    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        save_screenshot(page, f"dashboard-{name}-{width}")
        # The workers table fits the phone: who is alive and when last seen, no scrolling.
        assert page.evaluate(
            "(() => { const t = document.querySelector('#dash-processes');"
            " return t.scrollWidth <= t.clientWidth; })()"), f"workers table cut at {width} px"
    page.set_viewport_size({"width": 1366, "height": 900})


def test_it_shows_the_operator_what_happens_live(
    live_server, django_user_model, dovecot, mail_user, processes, tmp_path
):
    worker, _beat = processes
    username, password = mail_user
    dovecot.deliver_many(username, 3)
    # Not due until someone asks: the beat's ticks leave it alone.
    account = make_account(dovecot, username, password, next_check="2999-01-01T00:00Z")
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    base = live_server.url
    messages = "[data-metric='messages-24h']"

    with playwright_session() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(15_000)
        with screenshot_on_failure(page, tmp_path, worker):
            page.goto(base + "/admin/")
            page.fill("#id_username", "root")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            expect(page).to_have_url(base + reverse("dashboard"))
            expect(page.locator(messages)).to_have_text("0")
            expect(page.locator("#dash-processes tr.alive")).to_have_count(2)
            expect(page.locator("#dash-service")).to_contain_text("Running")
            assert page.locator("svg.chart rect.bar.messages").count() == 0
            page.evaluate("window.__notReloaded = true")

            assert dispatcher.request_check([account.pk], Run.Trigger.ADMIN) == [account.pk]
            wait_for(lambda: Run.objects.filter(account=account, status="ok").exists(),
                     timeout=30, what="the session")
            # The live refresh brings the run in: counters, charts, no reload.
            expect(page.locator(messages)).to_have_text("3")
            expect(page.locator("[data-metric='runs-24h']")).to_have_text("1")
            expect(page.locator("svg.chart rect.bar.messages")).to_have_count(2)  # hour, day
            assert page.evaluate("window.__notReloaded") is True
            shoot(page, "live")

            worker.kill()
            silent = page.locator("#dash-processes tr.silent[data-role='worker']")
            expect(silent).to_contain_text("silent since")
            expect(page.locator("#dash-processes tr.alive[data-role='beat']")).to_have_count(1)
            # Beat's minute check (retrieval/ops/heartbeat.py), a minute later:
            # the silence becomes an alert episode on the page.
            alerts.evaluate(now=timezone.now() + dt.timedelta(minutes=2),
                            heartbeats=alerts.heartbeat_pairs())
            expect(page.locator("#dash-alerts")).to_contain_text("No worker has been seen")
            shoot(page, "worker-silent")

            page.click("button.dash-stop")
            save_screenshot(page, "dashboard-confirm-stop-1366")
            page.click("#popadmin-confirm-stop-button")
            expect(page.locator("#dash-service")).to_contain_text("Stopped")
            expect(page.locator("#dash-service")).to_contain_text("stopped by root")
            assert not GlobalSettings.load().service_running
            shoot(page, "stopped")
            page.click("button.dash-start")
            expect(page.locator("#dash-service")).to_contain_text("started by root")
            assert GlobalSettings.load().service_running
        browser.close()
