"""Admin pages touched by the account-form work, in headless Chromium at 1366 and 390 px:
the account list names each row by its login with the TLS warning as a badge, the account
page's buttons are big enough to hit, Stop service asks first, the getting-started panel
and the provider form name the OAuth2 redirect URI, the global settings hold the allowed
ports and CA file, and the mailbox quota says MB. Screenshots go to tests/artifacts/."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import expect

from retrieval.models import GlobalSettings
from tests.admin_helpers import make_remote
from tests.browser import (
    SCREENSHOTS,
    WIDE,
    launch_chromium,
    playwright_session,
    screenshot_on_failure,
    shots_at_both_widths,
    sign_in_admin,
)
from tests.factories import make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

PASSWORD = "polish admin password"


@pytest.fixture
def page(live_server, settings):
    settings.POPADMIN_OAUTH_REDIRECT_URL = "https://mail.example.test/oauth/callback"
    get_user_model().objects.create_superuser("root", "root@x.test", PASSWORD)
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport=WIDE).new_page()
            tab.set_default_timeout(20_000)
            sign_in_admin(tab, live_server.url, "root", PASSWORD)
            yield tab
        finally:
            browser.close()


def shots(page, name):
    shots_at_both_widths(page, f"admin-polish-{name}")


def test_the_admin_pages(live_server, page):
    base = live_server.url
    with screenshot_on_failure(page, SCREENSHOTS):
        # A new install: the panel lists what is missing, the sign-in step among them.
        page.goto(base + reverse("admin:index"))
        start = page.locator(".popadmin-start")
        expect(start).to_contain_text("Sign in with Google or Microsoft")
        expect(start).to_contain_text("https://mail.example.test/oauth/callback")
        shots(page, "getting-started")

    owner = make_mailbox("owner@local.test")
    unverified = make_remote(owner=owner, host="imap.example.test", username="bob",
                             verify_tls=False, last_status="error", consecutive_failures=2,
                             last_error="host not found: imap.example.test")
    make_remote(owner=owner, host="imap.example.test", username="carol", name="Carol's")
    with screenshot_on_failure(page, SCREENSHOTS):

        page.goto(base + reverse("admin:retrieval_remoteaccount_changelist"))
        rows = page.locator("#result_list tbody tr")
        expect(rows.filter(has_text="bob").locator("th a")).to_contain_text("bob")
        expect(rows.filter(has_text="carol").locator("th a")).to_contain_text("carol")
        badge = rows.filter(has_text="bob").locator(".popadmin-badge--bad",
                                                    has_text="TLS certificate NOT verified")
        expect(badge).to_have_count(1)
        expect(rows.filter(has_text="carol")).not_to_contain_text("TLS certificate")
        shots(page, "account-list")

        page.goto(base + reverse("admin:retrieval_remoteaccount_change", args=[unverified.pk]))
        for button in ("#popadmin-check", "#popadmin-test"):
            assert page.locator(button).bounding_box()["height"] >= 32
        expect(page.locator(".popadmin-status")).to_contain_text("TLS certificate not verified")
        expect(page.locator("#popadmin-problem")).to_contain_text(
            "Next step (you, or the account's owner)")
        shots(page, "account-page")
        # The less common fields behind "Advanced"; the folder mapping as rows.
        rows = page.locator(".popadmin-folder-map input[name=folder_map_from]")
        expect(rows.first).to_be_hidden()
        page.get_by_text("Advanced", exact=True).click()
        expect(rows).to_have_count(2)
        rows.first.fill("Spam")
        page.locator(".popadmin-folder-map input[name=folder_map_to]").first.fill("Junk")
        shots(page, "account-advanced")
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist")).to_contain_text("changed successfully")
        unverified.refresh_from_db()
        assert unverified.folder_map == {"Spam": "Junk"}
        expect(page.locator(".popadmin-folder-map input[name=folder_map_from]")).to_have_count(3)

        page.goto(base + reverse("admin:retrieval_oauthprovider_add"))
        expect(page.locator("#redirect-uri")).to_have_text(
            "https://mail.example.test/oauth/callback")
        shots(page, "oauth-provider")

        page.goto(base + reverse("admin:retrieval_globalsettings_changelist"))
        expect(page.locator("#id_allowed_ports")).to_be_visible()
        expect(page.locator("#id_ca_file")).to_be_visible()
        shots(page, "global-settings")

        page.goto(base + reverse("admin:accounts_mailbox_add"))
        expect(page.locator("label[for=id_quota_mb]")).to_contain_text(
            "Quota (MB), empty or 0 = no limit")
        shots(page, "mailbox")

        page.goto(base + reverse("dashboard"))
        page.click("button.dash-stop")
        expect(page.locator("#popadmin-confirm-stop")).to_contain_text(
            "no remote account is checked")
        assert GlobalSettings.load().service_running
        shots(page, "confirm-stop")
        page.click("#popadmin-confirm-stop-button")
        expect(page.locator("#dash-service")).to_contain_text("Stopped")
        assert not GlobalSettings.load().service_running
