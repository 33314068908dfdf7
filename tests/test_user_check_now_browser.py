"""The user's Check now in a real browser: a user logs in at /accounts/login/,
presses Check now, and watches the progress line until the run ends; a real
Celery worker (consuming the interactive queue) collects the mail from a real
Dovecot into the local Maildir.

Headless Debian Chromium driven by Playwright, as in test_admin_browser.py.
"""


import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from retrieval.models import Run
from tests.browser import launch_chromium, playwright_session, screenshot_on_failure
from tests.factories import local_messages, make_account, make_mailbox
from tests.workers import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

LOGIN_PASSWORD = "browser user password"


@pytest.fixture
def page():
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
            tab.set_default_timeout(10_000)
            yield tab
        finally:
            browser.close()


def checker(django_user_model, address):
    user = django_user_model.objects.create_user("webuser", password=LOGIN_PASSWORD)
    group = Group.objects.create(name="webmail")
    GroupPolicy.objects.create(group=group, allow_manual_check=True)
    user.groups.add(group)
    return user, make_mailbox(address, user=user)


def test_it_shows_check_now_progress_until_the_mail_is_in(
    live_server, django_user_model, dovecot, mail_user, browser_worker, page, tmp_path
):
    username, password = mail_user
    dovecot.deliver_many(username, 3)
    user, mailbox = checker(django_user_model, f"{username}@local.test")
    account = make_account(dovecot, username, password, owner=mailbox)
    base = live_server.url

    with screenshot_on_failure(page, tmp_path, browser_worker):
        page.goto(base + "/mail/accounts/")
        expect(page).to_have_url(base + "/accounts/login/?next=/mail/accounts/")
        page.fill("#id_username", "webuser")
        page.fill("#id_password", LOGIN_PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(base + "/mail/accounts/")

        section = page.locator(f"#account-{account.pk}")
        expect(section.locator(".last-result")).to_have_text("never checked")
        expect(section).not_to_contain_text(password)
        section.get_by_role("button", name="Check now").click()

        # The line moves through "queued"/"running: n of 3" to the result,
        # without a reload.
        expect(section.locator(".progress")).to_have_text(
            "checked just now: OK, 3 new messages", timeout=30_000)
        assert page.url == base + "/mail/accounts/"

    assert len(local_messages(mailbox)) == 3
    assert dovecot.messages(username) == []
    run = wait_for(lambda: Run.objects.filter(account=account).first(), what="the run")
    assert (run.trigger, run.status, run.delivered) == (Run.Trigger.MANUAL, Run.Status.OK, 3)
