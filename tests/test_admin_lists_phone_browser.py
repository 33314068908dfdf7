"""Admin lists on a phone, in headless Chromium: at 390 px every row is a card whose
lines are named by their columns, so a failing account's status and error are on screen
without scrolling sideways; at 1366 px the list is the admin's table. Screenshots go to
tests/artifacts/ (admin-lists-*)."""

import contextlib

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import expect

from retrieval.models import Run
from tests.admin_helpers import make_remote
from tests.browser import (
    PHONE,
    SCREENSHOTS,
    WIDE,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
    sign_in_admin,
)
from tests.factories import make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

PASSWORD = "lists admin password"
ERROR = "host not found: imap.example.test"


@pytest.fixture
def accounts():
    owner = make_mailbox("owner@local.test")
    failing = make_remote(owner=owner, host="imap.example.test", username="bob",
                          last_status="error", consecutive_failures=2, last_error=ERROR)
    make_remote(owner=owner, host="imap.example.test", username="carol", name="Carol's")
    Run.objects.create(account=failing, trigger="schedule", status="error", error=ERROR,
                       account_label="bob@imap.example.test")
    return failing


@contextlib.contextmanager
def browse(live_server, javascript=True):
    """A superuser signed in through the admin's login form, in a tab at 1366 px."""
    get_user_model().objects.create_superuser("root", "root@x.test", PASSWORD)
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport=WIDE, java_script_enabled=javascript).new_page()
            tab.set_default_timeout(20_000)
            sign_in_admin(tab, live_server.url, "root", PASSWORD)
            yield tab
        finally:
            browser.close()


@pytest.fixture
def page(live_server):
    with browse(live_server) as tab:
        yield tab


def fits(page, width):
    """Nothing of the page or of its list lies beyond the screen's right edge."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    results = page.locator("#changelist .results")
    assert results.evaluate("el => el.scrollWidth <= el.clientWidth")


def on_screen(locator, width):
    box = locator.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_a_failing_account_shows_its_status_and_error_on_a_phone(live_server, page, accounts):
    with screenshot_on_failure(page, SCREENSHOTS):
        page.set_viewport_size(PHONE)
        page.goto(live_server.url + reverse("admin:retrieval_remoteaccount_changelist"))
        row = page.locator("#result_list tbody tr").filter(has_text="bob")
        status = row.locator("td.field-status_badge")
        error = row.locator("td.field-last_error_display")
        expect(status).to_have_attribute("data-label", "Status")
        expect(error).to_have_attribute("data-label", "Last error")
        expect(status).to_contain_text("Failing")
        expect(error).to_contain_text(ERROR)
        fits(page, PHONE["width"])
        on_screen(status, PHONE["width"])
        on_screen(error, PHONE["width"])
        # One card above the other, not side by side.
        first, second = (r.bounding_box() for r in page.locator("#result_list tbody tr").all())
        assert second["y"] >= first["y"] + first["height"] - 1
        # The head keeps what a list needs: select every row, sort by a column.
        page.locator("#action-toggle").check()
        expect(page.locator("input.action-select:checked")).to_have_count(2)
        save_screenshot(page, "admin-lists-accounts-390")

        page.goto(live_server.url + reverse("admin:retrieval_run_changelist"))
        error = page.locator("#result_list tbody tr td.field-short_error")
        expect(error).to_have_attribute("data-label", "Error")
        fits(page, PHONE["width"])
        on_screen(error, PHONE["width"])
        save_screenshot(page, "admin-lists-runs-390")

        page.goto(live_server.url + reverse("admin:accounts_mailbox_changelist"))
        fits(page, PHONE["width"])
        save_screenshot(page, "admin-lists-mailboxes-390")


def test_a_wide_screen_keeps_the_table(live_server, page, accounts):
    with screenshot_on_failure(page, SCREENSHOTS):
        page.goto(live_server.url + reverse("admin:retrieval_remoteaccount_changelist"))
        row = page.locator("#result_list tbody tr").filter(has_text="bob")
        assert row.evaluate("el => getComputedStyle(el).display") == "table-row"
        expect(page.locator("#result_list thead th").filter(has_text="Status")).to_be_visible()
        # The cells of a row side by side, in the order of the head.
        owner, status = (row.locator(f"td.field-{name}").bounding_box()
                         for name in ("owner", "status_badge"))
        assert status["x"] > owner["x"] and abs(status["y"] - owner["y"]) < 2
        save_screenshot(page, "admin-lists-accounts-1366")


def test_without_script_a_phone_still_shows_every_value(live_server, accounts):
    with browse(live_server, javascript=False) as tab, screenshot_on_failure(tab, SCREENSHOTS):
        tab.set_viewport_size(PHONE)
        tab.goto(live_server.url + reverse("admin:retrieval_remoteaccount_changelist"))
        error = tab.locator("#result_list tbody tr td.field-last_error_display").first
        expect(error).to_contain_text(ERROR)
        fits(tab, PHONE["width"])
        on_screen(error, PHONE["width"])
        save_screenshot(tab, "admin-lists-accounts-390-noscript")
