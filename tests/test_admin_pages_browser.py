"""The admin as a new administrator meets it, in headless Chromium at 1366 px and 390 px:
first run to a working account, then a broken account diagnosed and fixed.

Screenshots go to $POPADMIN_SCREENSHOTS (default tests/artifacts/, gitignored).
"""


import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import GroupPolicy, Mailbox
from accounts.policy import DEFAULT_GROUP
from retrieval.models import RemoteAccount, Run
from tests.browser import (
    WIDTHS,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.factories import local_messages, make_account, make_mailbox
from tests.workers import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

ADMIN_PASSWORD = "browser admin password"


@pytest.fixture(params=list(WIDTHS))
def page(request):
    width, height = WIDTHS[request.param]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport={"width": width, "height": height}).new_page()
            tab.set_default_timeout(15_000)
            tab.popadmin_size = request.param
            yield tab
        finally:
            browser.close()


def shot(page, name):
    save_screenshot(page, f"admin-{name}-{page.popadmin_size}")


def fits_the_screen(page):
    # Nothing falls off the side: neither the page nor the list scrolls sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{width} px wide"
    results = page.locator("#changelist .results")
    overflow = results.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 0, f"the list is {overflow} px wider than its box"


def log_in(page, base):
    page.goto(base + "/admin/")
    expect(page.locator(".entry-brand")).to_have_text("popadmin")
    page.fill("#id_username", "root")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("root")


def default_group():
    # A transactional test empties every table, the migration's default group too.
    group, _ = Group.objects.get_or_create(name=DEFAULT_GROUP)
    GroupPolicy.objects.get_or_create(group=group, defaults={"allow_manual_check": True})


def finished_run(account):
    return Run.objects.filter(account=account).exclude(status=Run.Status.RUNNING).first()


def test_first_run_to_a_working_account(live_server, django_user_model, dovecot, mail_user,
                                        browser_worker, page, tmp_path):
    username, password = mail_user
    dovecot.deliver_many(username, 2)
    django_user_model.objects.create_superuser("root", "root@local.test", ADMIN_PASSWORD)
    default_group()
    base, address = live_server.url, f"{username}@local.test"

    with screenshot_on_failure(page, tmp_path, browser_worker):
        log_in(page, base)
        panel = page.locator(".popadmin-start")
        expect(panel).to_contain_text("Getting started")
        shot(page, "1-getting-started")
        panel.get_by_role("link", name="Add a local mailbox").click()
        page.fill("#id_address", address)
        page.fill("#id_aliases", "alias-one@local.test\nalias-two@local.test")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
        assert Mailbox.objects.get(address=address).aliases == [
            "alias-one@local.test", "alias-two@local.test"]

        page.goto(base + "/admin/")
        page.locator(".popadmin-start").get_by_role("link", name="Add a remote account").click()
        page.click(".field-owner .select2-selection")
        page.fill(".select2-search__field", username)
        page.click(f".select2-results__option:has-text('{address}')")
        # Fields appear only where they apply.
        expect(page.locator(".field-keep_days")).to_be_hidden()
        expect(page.locator(".field-folders")).to_be_hidden()
        page.select_option("#id_keep_policy", "keep_days")
        expect(page.locator(".field-keep_days")).to_be_visible()
        page.select_option("#id_keep_policy", "delete")
        # Certificate checking sits under "Advanced" with the other less common fields.
        page.get_by_text("Advanced", exact=True).click()
        page.select_option("#id_security", "none")
        expect(page.locator(".field-verify_tls")).to_be_hidden()
        page.select_option("#id_security", "tls")
        expect(page.locator(".field-verify_tls")).to_be_visible()
        page.fill("#id_host", "localhost")
        page.fill("#id_port", str(dovecot.pop3s_port))
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        shot(page, "2-add-account")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text(
            "Test connection OK: connected and logged in: 2 message(s)")
        # Saving started the first check (Check now would find it under way).
        expect(page.locator(".messagelist")).to_contain_text(
            "A check with these settings has started")

        account = RemoteAccount.objects.get(owner__address=address)
        page.goto(base + reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))
        page.click("#popadmin-test")
        expect(page.locator("#popadmin-trial-result")).to_contain_text("Test connection OK")

        mailbox = Mailbox.objects.get(address=address)
        wait_for(lambda: len(local_messages(mailbox)) == 2, timeout=20, what="the local mail")
        run = wait_for(lambda: finished_run(account), timeout=10, what="the finished run")
        assert run.status == Run.Status.OK, run.error
        page.reload()
        expect(page.locator(".popadmin-status .popadmin-badge")).to_have_text("OK")
        shot(page, "3-account-page-ok")

        page.goto(base + reverse("admin:retrieval_remoteaccount_changelist"))
        row = page.locator("#result_list tbody tr").filter(has_text="localhost")
        expect(row.locator(".popadmin-badge")).to_have_text("OK")
        expect(row.locator("td.field-kind")).to_have_text("POP3 · TLS")
        shot(page, "4-account-list-ok")
        if page.popadmin_size == "desktop":
            fits_the_screen(page)
        page.goto(base + "/admin/")
        expect(page.locator(".popadmin-start")).to_have_count(0)


def test_a_broken_account_diagnosed_and_fixed(live_server, django_user_model, dovecot,
                                              mail_user, browser_worker, page, tmp_path,
                                              settings):
    username, password = mail_user
    django_user_model.objects.create_superuser("root", "root@local.test", ADMIN_PASSWORD)
    account = make_account(dovecot, username, "an old password",
                           owner=make_mailbox(f"{username}@local.test"))
    # Working neighbours, so the list looks like a real one.
    for n in range(3):
        make_account(dovecot, f"{username}-ok{n}", "x", last_status="ok",
                     last_check=timezone.now())
    base = live_server.url

    with screenshot_on_failure(page, tmp_path, browser_worker):
        log_in(page, base)
        page.goto(base + reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))
        page.click("#popadmin-check")
        run = wait_for(lambda: finished_run(account), timeout=20, what="the failed run")
        assert run.status == Run.Status.ERROR

        page.goto(base + reverse("admin:retrieval_remoteaccount_changelist"))
        row = page.locator("#result_list tbody tr").filter(has_text=f"{username}@local.test")
        expect(row.locator(".popadmin-badge")).to_have_text("Failing")
        expect(row.locator("td.field-status_badge")).to_contain_text("failing since")
        expect(row.locator("td.field-last_error_display")).to_contain_text(
            "The server refused the username or password.")
        shot(page, "5-account-list-broken")
        if page.popadmin_size == "desktop":
            fits_the_screen(page)
            for column in ("owner", "kind", "status_badge", "last_error_display"):
                expect(row.locator(f"td.field-{column}")).to_be_in_viewport()

        row.locator("th.field-remote_login a").click()
        status = page.locator(".popadmin-status")
        expect(status).to_contain_text("Enter the password again")
        shot(page, "6-account-page-broken")
        page.fill("#id_password", password)
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("Test connection OK")
        # Started now, or (checked moments ago) at the dispatcher's next tick.
        expect(page.locator(".messagelist")).to_contain_text("A check with these settings")
        expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")

        account.refresh_from_db()
        assert account.get_password() == password
        # The check the save started collects with the new password.
        fixed = wait_for(lambda: Run.objects.filter(account=account, status=Run.Status.OK)
                         .first(), timeout=20, what="the run after the fix")
        assert fixed.trigger == Run.Trigger.ADMIN
        page.reload()
        row = page.locator("#result_list tbody tr").filter(has_text=f"{username}@local.test")
        expect(row.locator(".popadmin-badge")).to_have_text("OK")
        shot(page, "7-account-list-fixed")
