"""A run's pages and the deliveries table as an operator reads them, in headless
Chromium at 1366 px and 390 px: the run named by its account (never "Run 2 of 1"),
its summary said once, the stored fields folded away; the deliveries table fits
1366 px and names the run and the account. Screenshots go to tests/artifacts/."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from delivery.models import Delivery
from retrieval.models import RemoteAccount, Run
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

PASSWORD = "run pages password"


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
            expect(tab.locator("#user-tools")).to_contain_text("root")
            with screenshot_on_failure(tab, tmp_path):
                yield tab
        finally:
            browser.close()


@pytest.fixture
def run():
    owner = make_mailbox("shop@local.test")
    account = RemoteAccount(owner=owner, protocol="imap", security="tls", port=993,
                            host="imap.example-provider.test", username="orders",
                            name="Shop orders mailbox")
    account.set_password("secret")
    account.save()
    started = timezone.now() - dt.timedelta(minutes=3)
    run = Run.objects.create(account=account, account_label="Shop orders mailbox",
                             trigger="schedule", seen=12, status="ok", started=started,
                             finished=started + dt.timedelta(seconds=4), fetched=12,
                             delivered=12, bytes=120_000, total=12)
    for i in range(12):
        Delivery.objects.create(
            mailbox=owner, run=run, message_key=f"k{i}", result="delivered",
            message_id=f"<{i}.very-long-message-id-of-a-mailing-list@lists.example.org>",
            sender=f"A Very Long Sender Name Number {i} <notifications-{i}@mailer.example.org>",
            subject=f"Re: Fwd: Your order {i} has shipped and here is a long description of it",
            sent=started, folder="INBOX.Orders.Shipped", size=10_000, recipient=owner.address)
    return run


def test_the_run_is_named_by_its_account_and_summarised_once(page, live_server, run):
    page.goto(f"{live_server.url}/admin/retrieval/run/{run.pk}/change/")
    expect(page).to_have_title(f"Run {run.pk}: Shop orders mailbox | View run | popadmin")
    expect(page.locator("#content h2").first).to_have_text(f"Run {run.pk}: Shop orders mailbox")
    expect(page.locator(".run-summary")).to_have_count(1)
    expect(page.locator(".run-summary h2")).to_have_text("Result: OK")
    # The stored fields are folded away, one click from the summary.
    stored = page.locator("details", has_text="Stored record")
    expect(stored).not_to_have_attribute("open", "")
    expect(page.locator(".field-account_label")).not_to_be_visible()
    save_screenshot(page, f"run-admin-{page.popadmin_size}")

    page.goto(f"{live_server.url}/history/runs/{run.pk}/")
    expect(page.locator("h1")).to_have_text(f"Run {run.pk}: Shop orders mailbox")
    expect(page.locator(".breadcrumbs")).to_contain_text("Retrieval history")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the run page is {width} px wide"
    # Each message's result is on screen, at either width, without scrolling sideways.
    result = page.locator(".run-deliveries td.run-delivery-result").first
    expect(result).to_have_text("Delivered")
    expect(result).to_have_attribute("data-label", "Result")
    box = result.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    save_screenshot(page, f"run-page-{page.popadmin_size}")


def test_the_deliveries_table_fits_and_names_run_and_account(page, live_server, run):
    page.goto(f"{live_server.url}/admin/delivery/delivery/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(12)
    first = rows.first
    expect(first.locator("td.field-account_link a")).to_have_text("Shop orders mailbox")
    started = timezone.localtime(run.started)
    expect(first.locator("td.field-run_link a")).to_have_text(
        f"{started:%Y-%m-%d %H:%M} UTC")
    expect(page.locator("#result_list tbody")).not_to_contain_text(re.compile(r"(account|run) \d"))
    if page.popadmin_size == "desktop":
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, f"the page is {width} px wide"
        box = page.locator("#changelist .results")
        assert box.evaluate("e => e.scrollWidth - e.clientWidth") <= 0, "the table scrolls"
    save_screenshot(page, f"deliveries-{page.popadmin_size}")
    first.locator("td.field-run_link a").click()
    expect(page.locator(".run-summary")).to_be_visible()
