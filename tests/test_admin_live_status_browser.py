"""The admin's account page and account list follow a check they did not start
themselves (another administrator's Check now, a schedule), in headless Chromium at
1366 px and 390 px: the status, the progress line and the list's status cell change
from "Never checked" to the result without a reload, as the user page's cards do.
A real Celery worker collects the mail from a real Dovecot."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from retrieval import dispatcher
from retrieval.models import Run
from tests.browser import (
    WIDTHS,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.factories import local_messages, make_account, make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

PASSWORD = "live status password"


@pytest.fixture(params=list(WIDTHS))
def context(request, live_server, django_user_model):
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    width, height = WIDTHS[request.param]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            ctx = browser.new_context(viewport={"width": width, "height": height})
            ctx.popadmin_size = request.param
            tab = ctx.new_page()
            tab.goto(live_server.url + "/admin/login/")
            tab.fill("#id_username", "root")
            tab.fill("#id_password", PASSWORD)
            tab.click("input[type=submit]")
            expect(tab.locator("#user-tools")).to_be_visible()
            tab.close()
            yield ctx
        finally:
            browser.close()


def not_reloaded(page):
    page.evaluate("window.popadminMark = 1")
    return lambda: page.evaluate("window.popadminMark") == 1


def test_page_and_list_follow_a_check_live(live_server, context, dovecot, mail_user,
                                           browser_worker, tmp_path):
    username, password = mail_user
    dovecot.deliver_many(username, 3)
    mailbox = make_mailbox(f"{username}@local.test")
    account = make_account(dovecot, username, password, owner=mailbox)
    size = context.popadmin_size

    # The pages' clocks run as usual but can be moved on: with nothing checking, the
    # next ask comes ten seconds later (popadmin/account_status.js), not worth waiting.
    context.clock.install()
    detail, listing = context.new_page(), context.new_page()
    with screenshot_on_failure(detail, tmp_path, browser_worker):
        for page, url in ((detail, reverse("admin:retrieval_remoteaccount_change",
                                           args=[account.pk])),
                          (listing, reverse("admin:retrieval_remoteaccount_changelist"))):
            with page.expect_response(lambda r: "/live-status/" in r.url):
                page.goto(live_server.url + url)
        status = detail.locator(".popadmin-status")
        expect(status).to_contain_text("Never checked")
        cell = listing.locator("#result_list tbody tr").first.locator("td.field-status_badge")
        expect(cell).to_contain_text("Never checked")
        same_detail, same_listing = not_reloaded(detail), not_reloaded(listing)

        # Someone else starts the check: neither page is touched.
        assert dispatcher.request_check([account.pk], Run.Trigger.ADMIN) == [account.pk]
        context.clock.fast_forward(10_000)

        expect(status.locator(".popadmin-badge").first).to_have_text("OK", timeout=60_000)
        expect(cell).to_contain_text("OK")
        expect(status).not_to_contain_text("Never checked")
        expect(detail.locator("#popadmin-progress")).to_have_text(
            "checked just now: OK, 3 new messages")
        expect(listing.locator("#result_list tbody tr").first.locator("td.field-checked")
               ).not_to_have_text("-")
        assert same_detail() and same_listing()
        save_screenshot(detail, f"admin-account-live-{size}")
        save_screenshot(listing, f"admin-accounts-live-{size}")

    assert len(local_messages(mailbox)) == 3
