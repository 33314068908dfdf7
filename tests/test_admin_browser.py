"""The getting-started promise in a real browser: an administrator logs in, adds a
mailbox and a POP3 account (Save tests it and starts its first check), and a
real Celery worker collects the mail from a real Dovecot into the local
Maildir; "Check now" on the list then says the check is already under way.

Headless Debian Chromium driven by Playwright (no browser download: the
system binary is launched directly).
"""


import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import Mailbox
from retrieval.models import RemoteAccount, Run
from tests.browser import launch_chromium, playwright_session, screenshot_on_failure
from tests.factories import local_messages
from tests.workers import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

ADMIN_PASSWORD = "browser admin password"


@pytest.fixture
def page():
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            tab = context.new_page()
            tab.set_default_timeout(10_000)
            yield tab
        finally:
            browser.close()


def log_in(page, base):
    page.goto(base + "/admin/")
    expect(page).to_have_url(base + reverse("admin:login") + "?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("root")


def add_mailbox(page, base, address):
    page.goto(base + reverse("admin:accounts_mailbox_add"))
    page.fill("#id_address", address)
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")


def add_pop3_account(page, base, address, port, username, password):
    page.goto(base + reverse("admin:retrieval_remoteaccount_add"))
    # The owner is an autocomplete (select2) field: type, then pick.
    page.click(".field-owner .select2-selection")
    page.fill(".select2-search__field", address.split("@")[0])
    page.click(f".select2-results__option:has-text('{address}')")
    page.select_option("#id_protocol", "pop3")
    page.select_option("#id_security", "tls")
    page.fill("#id_host", "localhost")
    page.fill("#id_port", str(port))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.select_option("#id_keep_policy", "delete")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    expect(page.locator(".messagelist")).to_contain_text("Test connection OK")
    expect(page.locator(".messagelist")).to_contain_text(
        "A check with these settings has started")


def check_now(page, base, account, started=1):
    page.goto(base + reverse("admin:retrieval_remoteaccount_changelist"))
    page.check(f"input[name=_selected_action][value='{account.pk}']")
    page.select_option("select[name=action]", "check_now")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text(
        f"Check started for {started} account(s).")


def finished_run(account):
    return Run.objects.filter(account=account).exclude(status=Run.Status.RUNNING).first()


def test_it_collects_mail_after_check_now_in_the_browser(
    live_server, django_user_model, dovecot, mail_user, browser_worker, page, tmp_path
):
    username, password = mail_user
    dovecot.deliver_many(username, 3)
    django_user_model.objects.create_superuser("root", "root@local.test", ADMIN_PASSWORD)
    base = live_server.url
    address = f"{username}@local.test"

    with screenshot_on_failure(page, tmp_path, browser_worker):
        log_in(page, base)
        add_mailbox(page, base, address)
        add_pop3_account(page, base, address, dovecot.pop3s_port, username, password)

        account = RemoteAccount.objects.get(owner__address=address)
        assert (account.host, account.port, account.security) == (
            "localhost", dovecot.pop3s_port, "tls")
        assert account.get_password() == password

        # The save started the first check: pressing Check now adds nothing.
        check_now(page, base, account, started=0)

        mailbox = Mailbox.objects.get(address=address)
        wait_for(lambda: len(local_messages(mailbox)) == 3, timeout=20, what="the local mail")
        run = wait_for(lambda: finished_run(account), timeout=10, what="the finished run")
        assert run.status == Run.Status.OK, run.error
        assert (run.trigger, run.delivered) == (Run.Trigger.ADMIN, 3)
        assert dovecot.messages(username) == []

        page.goto(base + reverse("admin:retrieval_run_changelist"))
        row = page.locator("#result_list tbody tr").filter(has_text=str(account))
        expect(row).to_have_count(1)
        expect(row.locator("td.field-status")).to_have_text("OK")
        expect(row.locator("td.field-trigger")).to_have_text("Admin")
        expect(row.locator("td.field-delivered")).to_have_text("3")
