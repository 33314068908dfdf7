"""Push in headless Chromium: the account card's Push line and the dashboard's Push block,
at 1366 px and 390 px (screenshots in $POPADMIN_SCREENSHOTS or tests/artifacts/)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from retrieval.models import PushWatch, PushWatcher, RemoteAccount
from tests.browser import (
    SCREENSHOTS,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.factories import make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

PASSWORD = "push browser password"
SIZES = {"1366": {"width": 1366, "height": 900}, "390": {"width": 390, "height": 844}}


def test_the_card_and_the_dashboard_show_push(live_server, django_user_model):
    user = django_user_model.objects.create_user("pushcard", password=PASSWORD)
    django_user_model.objects.create_superuser("pushroot", "r@local.test", PASSWORD)
    mailbox = make_mailbox(user=user)
    pushed = RemoteAccount.objects.create(owner=mailbox, protocol="imap", name="Pushed",
                                          host="imap.example.test", username="u1")
    polled = RemoteAccount.objects.create(owner=mailbox, protocol="imap", name="No IDLE",
                                          host="imap.old.test", username="u2")
    PushWatcher.objects.create(name="w1", hostname="mail1", pid=7)
    until = timezone.now() + dt.timedelta(hours=1)
    PushWatch.objects.create(account=pushed, watcher="w1", until=until, state="idle",
                             idle_supported=True, reconnects=2)
    PushWatch.objects.create(account=polled, watcher="w1", until=until, state="noop",
                             idle_supported=False)
    base = live_server.url
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            for size, viewport in SIZES.items():
                page = browser.new_context(viewport=viewport).new_page()
                page.set_default_timeout(15_000)
                with screenshot_on_failure(page, SCREENSHOTS):
                    page.goto(base + "/mail/accounts/")
                    page.fill("#id_username", "pushcard")
                    page.fill("#id_password", PASSWORD)
                    page.click("button[type=submit]")
                    card = page.locator(f"#account-{pushed.pk} .push")
                    expect(card).to_have_text("push: new mail arrives within seconds")
                    expect(page.locator(f"#account-{polled.pk} .push")).to_contain_text(
                        "the server has no IDLE")
                    save_screenshot(page, f"push-card-{size}")
                    assert page.evaluate("document.documentElement.scrollWidth") <= \
                        viewport["width"]
                page.context.close()
                page = browser.new_context(viewport=viewport).new_page()
                page.set_default_timeout(15_000)
                with screenshot_on_failure(page, SCREENSHOTS):
                    page.goto(base + "/admin/")
                    page.fill("#id_username", "pushroot")
                    page.fill("#id_password", PASSWORD)
                    page.click("input[type=submit]")
                    expect(page).to_have_url(base + reverse("dashboard"))
                    block = page.locator("#dash-push")
                    expect(block).to_contain_text("2 accounts watched by 1 watcher")
                    expect(block).to_contain_text("2 reconnects in all")
                    block.scroll_into_view_if_needed()
                    save_screenshot(page, f"push-dashboard-{size}")
                page.context.close()
        finally:
            browser.close()
