"""Check mail on /mail/ without JavaScript: the form posts normally, the check is
queued, and the browser comes back to the mail page it was on (its folder and
search kept), not to the accounts page. A `next` that leads off the site is
not followed."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from retrieval import dispatcher
from retrieval.models import AccountClaim, RemoteAccount
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

LOGIN_PASSWORD = "browser user password"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """The check is queued (claimed) as usual; no task leaves for a broker."""
    monkeypatch.setattr(dispatcher, "enqueue_fetch", lambda pk, trigger, task_id=None: None)


@pytest.fixture
def member(django_user_model):
    user = django_user_model.objects.create_user("plainuser", password=LOGIN_PASSWORD)
    group = Group.objects.create(name="checkers")
    GroupPolicy.objects.create(group=group, allow_manual_check=True)
    user.groups.add(group)
    mailbox = make_mailbox("plain@local.test", user=user)
    account = RemoteAccount(owner=mailbox, host="pop.example.test", username="plain",
                            name="Work mailbox")
    account.set_password("secret")
    account.save()
    return user, account


@pytest.mark.parametrize("width", [1366, 390])
def test_check_mail_without_script_comes_back_to_the_mail_page(live_server, member, width):
    user, account = member
    base = live_server.url
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_context(java_script_enabled=False,
                                       viewport={"width": width, "height": 844}).new_page()
            page.set_default_timeout(15_000)
            with screenshot_on_failure(page, SCREENSHOTS):
                page.goto(base + "/mail/?folder=INBOX&q=report")
                page.fill("#id_username", "plainuser")
                page.fill("#id_password", LOGIN_PASSWORD)
                page.click("button[type=submit]")
                expect(page).to_have_url(base + "/mail/?folder=INBOX&q=report")

                page.get_by_role("button", name="Check mail").click()

                expect(page).to_have_url(base + "/mail/?folder=INBOX&q=report")
                expect(page.locator(".messages")).to_contain_text(
                    "Check started for 1 account(s).")
                save_screenshot(page, f"mail-check-without-script-{width}")
        finally:
            browser.close()
    assert AccountClaim.objects.filter(account=account).exists()


def test_a_next_off_the_site_is_not_followed(client, member):
    user, account = member
    client.force_login(user)

    response = client.post(reverse("mail-check-all"), {"next": "https://evil.test/"})

    assert response.status_code == 302
    assert response.url == reverse("mail-accounts")
