"""The admin's account form in headless Chromium, against the test Dovecot:
Test connection tests what is typed and answers in place (the typed password
stays); Save with a failing test stays on the form with the reason and "Save
anyway"; a new account leaves a copy on the server by default; after a fix the
old error reads as from before the change and the page names the check its save
started. Screenshots at 1366 and 390 px go to tests/artifacts/.
"""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import expect

from retrieval.models import RemoteAccount
from tests.browser import (
    SCREENSHOTS,
    WIDE,
    launch_chromium,
    playwright_session,
    screenshot_on_failure,
    shots_at_both_widths,
    sign_in_admin,
)
from tests.factories import make_account, make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

PASSWORD = "form admin password"


@pytest.fixture
def page(live_server, settings, dovecot):
    settings.POPADMIN_CA_FILE = dovecot.ca_file
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
    shots_at_both_widths(page, f"admin-account-form-{name}")


def pick_owner(page, address):
    page.click(".field-owner .select2-selection")
    page.fill(".select2-search__field", address.split("@")[0])
    page.click(f".select2-results__option:has-text('{address}')")


def fill_server(page, dovecot, username, password):
    page.select_option("#id_protocol", "pop3")
    page.select_option("#id_security", "tls")
    page.fill("#id_host", "localhost")
    page.fill("#id_port", str(dovecot.pop3s_port))
    page.fill("#id_username", username)
    page.fill("#id_password", password)


def test_test_connection_tests_what_is_typed_and_keeps_it(live_server, page, dovecot,
                                                          mail_user):
    username, password = mail_user
    owner = make_mailbox("owner@local.test")
    base = live_server.url
    with screenshot_on_failure(page, SCREENSHOTS):
        page.goto(base + reverse("admin:retrieval_remoteaccount_add"))
        # A new account leaves a copy on the server unless told otherwise.
        expect(page.locator("#id_keep_policy")).to_have_value("keep")
        shots(page, "add")
        pick_owner(page, owner.address)
        fill_server(page, dovecot, username, "not the password")
        page.click("#popadmin-test")
        result = page.locator("#popadmin-trial-result")
        expect(result).to_contain_text("The server refused the username or password.")
        expect(result).to_contain_text("Next step: Enter the password again")
        # Answered in place: the page did not reload, the typed values are all there.
        expect(page.locator("#id_password")).to_have_value("not the password")
        expect(page.locator("#id_host")).to_have_value("localhost")
        shots(page, "test-failed")

        # Following the next step works: type it again, press Test connection.
        page.fill("#id_password", password)
        page.click("#popadmin-test")
        expect(result).to_contain_text("Test connection OK: connected and logged in")
        expect(page.locator("#id_password")).to_have_value(password)
        assert not RemoteAccount.objects.exists()  # tested, never saved
        shots(page, "test-ok")


def test_save_with_a_failing_test_stays_on_the_form(live_server, page, dovecot, mail_user):
    username, _ = mail_user
    owner = make_mailbox("owner@local.test")
    base = live_server.url
    with screenshot_on_failure(page, SCREENSHOTS):
        page.goto(base + reverse("admin:retrieval_remoteaccount_add"))
        pick_owner(page, owner.address)
        fill_server(page, dovecot, username, "not the password")
        page.click("input[name=_save]")
        expect(page.locator("#popadmin-trial-result")).to_contain_text(
            "Not saved: Test connection failed.")
        expect(page.locator("#popadmin-trial-result")).to_contain_text(
            "The server refused the username or password.")
        expect(page.locator("#popadmin-save-anyway")).to_be_visible()
        expect(page).to_have_url(base + reverse("admin:retrieval_remoteaccount_add"))
        expect(page.locator("#id_password")).to_have_value("not the password")
        assert not RemoteAccount.objects.exists()
        shots(page, "save-failed")

        page.check("#id_save_anyway")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text(
            "Saved without a passing Test connection")
        account = RemoteAccount.objects.get()
        assert account.get_password() == "not the password"
        assert account.keep_policy == RemoteAccount.Keep.KEEP


def test_after_a_fix_the_old_error_is_marked_and_the_queued_check_named(
        live_server, page, dovecot, mail_user):
    username, password = mail_user
    account = make_account(dovecot, username, "old wrong password", last_status="error",
                           last_error="login refused by server: -ERR [AUTH] Authentication "
                                      "failed.", consecutive_failures=3)
    base = live_server.url
    change = base + reverse("admin:retrieval_remoteaccount_change", args=[account.pk])
    with screenshot_on_failure(page, SCREENSHOTS):
        page.goto(change)
        expect(page.locator("#popadmin-problem")).to_contain_text("Next step")
        expect(page.locator("#popadmin-before-change")).to_have_count(0)
        page.fill("#id_password", password)
        page.click("input[name=_continue]")
        messages = page.locator(".messagelist")
        expect(messages).to_contain_text("Test connection OK")
        expect(messages).to_contain_text("A check with these settings has started")
        problem = page.locator("#popadmin-problem")
        expect(problem).to_contain_text("Before the last change")
        expect(problem).not_to_contain_text("Next step")
        expect(page.locator("#popadmin-next-check")).to_contain_text("queued or running now")
        shots(page, "after-fix")

        page.click("#popadmin-check")
        expect(messages).to_contain_text("already queued or running (saving a change "
                                         "starts one)")
