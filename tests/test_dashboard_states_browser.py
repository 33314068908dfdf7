"""What the dashboard tells an operator at a glance, in headless Chromium at 1366 px
and 390 px: a process that stopped cleanly fades while a silent one is red;
failing accounts without an alert say when the alert opens; every chart has a
sentence, says "No data yet" when empty, and a bar leads to its runs; the day
charts have a range picker. Screenshots go to tests/artifacts/."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from retrieval.models import GlobalSettings, Heartbeat, HourlyStats, RemoteAccount, Run
from retrieval.models.stats import floor_hour
from tests.browser import (
    WIDTHS,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.factories import make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

PASSWORD = "dashboard states password"
RED = "rgb(186, 33, 33)"


@pytest.fixture(params=list(WIDTHS))
def page(request, live_server, django_user_model, tmp_path):
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    width, height = WIDTHS[request.param]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport={"width": width, "height": height}).new_page()
            tab.popadmin_size = request.param
            tab.goto(live_server.url + "/admin/")
            tab.fill("#id_username", "root")
            tab.fill("#id_password", PASSWORD)
            tab.click("input[type=submit]")
            expect(tab.locator("#dash-live")).to_be_visible()
            with screenshot_on_failure(tab, tmp_path):
                yield tab
        finally:
            browser.close()


def fits(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide"


def account(host, **fields):
    acc = RemoteAccount(owner=make_mailbox(), protocol="pop3", security="tls", host=host,
                        port=995, username="someone", **fields)
    acc.set_password("secret")
    acc.save()
    return acc


def test_a_process_stopped_cleanly_fades_and_a_silent_one_is_red(page, live_server):
    now = timezone.now()
    Heartbeat.objects.create(role="worker", hostname="celery@old-box", pid=10,
                             started=now - dt.timedelta(hours=2),
                             last_seen=now - dt.timedelta(minutes=5),
                             stopped=now - dt.timedelta(minutes=5))
    Heartbeat.objects.create(role="beat", hostname="old-box", pid=11,
                             started=now - dt.timedelta(hours=2),
                             last_seen=now - dt.timedelta(minutes=5))
    Heartbeat.objects.create(role="worker", hostname="celery@new-box", pid=20, last_seen=now)
    page.goto(live_server.url + "/dashboard/")
    rows = page.locator("#dash-processes tbody tr")
    stopped = rows.filter(has_text="old-box").filter(has_text="Worker")
    expect(stopped).to_have_class("stopped")
    expect(stopped).to_contain_text("stopped cleanly")
    assert stopped.locator("td").first.evaluate("e => getComputedStyle(e).color") != RED
    # Faded: a clean stop is not news.
    assert float(stopped.locator("td").first.evaluate("e => getComputedStyle(e).opacity")) < 1
    silent = rows.filter(has_text="Beat")
    expect(silent).to_have_class("silent")
    expect(silent).to_contain_text("silent since")
    assert silent.locator("td").first.evaluate("e => getComputedStyle(e).color") == RED
    expect(rows.filter(has_text="new-box")).to_have_class("alive")
    fits(page)
    save_screenshot(page, f"dashboard-processes-{page.popadmin_size}")


def test_failing_accounts_without_an_alert_say_when_it_opens(page, live_server):
    gs = GlobalSettings.load()
    gs.alert_after_minutes = 30
    gs.save()
    since = timezone.now() - dt.timedelta(minutes=10)
    for host in ("a.example.test", "b.example.test", "c.example.test"):
        account(host, failing_since=since, consecutive_failures=2, last_error="refused")
    page.goto(live_server.url + "/dashboard/")
    alerts = page.locator("#dash-alerts")
    expect(alerts).to_contain_text("No open alert")
    expect(alerts).to_contain_text("3 accounts are failing")
    expect(alerts).to_contain_text("An alert opens once an account has failed for 30 minutes")
    opens = timezone.localtime(since + dt.timedelta(minutes=30))
    expect(alerts).to_contain_text(f"the next at {opens:%Y-%m-%d %H:%M}")
    fits(page)
    save_screenshot(page, f"dashboard-alert-outlook-{page.popadmin_size}")


def test_charts_speak_say_when_empty_and_lead_to_their_runs(page, live_server):
    page.goto(live_server.url + "/dashboard/")
    hours = page.locator("section[aria-label^='Last 24 hours'] .dash-chart").first
    expect(hours.locator("svg text.empty")).to_have_text("No data yet")
    expect(hours.locator(".chart-text")).to_contain_text("no data yet")

    hour = floor_hour(timezone.now())
    HourlyStats.objects.create(hour=hour, runs_ok=1, messages=5, bytes=5000, delivered=5)
    acc = account("d.example.test")
    Run.objects.create(account=acc, account_label="the shop mailbox", status="ok",
                       started=hour + dt.timedelta(minutes=1), fetched=5)
    page.goto(live_server.url + "/dashboard/")
    expect(hours.locator(".chart-text")).to_contain_text(
        f"5 messages in 24 hours; the busiest hour: {hour:%H}:00, 5.")
    expect(hours.locator("svg text.empty")).to_have_count(0)
    fits(page)
    save_screenshot(page, f"dashboard-charts-{page.popadmin_size}")

    days = page.locator("#dash-days")
    expect(days).to_contain_text("Last 30 days")
    days.get_by_role("link", name="7 days").click()
    expect(page.locator("#dash-days h2")).to_contain_text("Last 7 days")
    expect(page.locator("#dash-days .chart-text").first).to_contain_text("in 7 days")

    page.locator("section[aria-label^='Last 24 hours'] svg a").first.click()
    expect(page.locator("#result_list")).to_contain_text("the shop mailbox")
