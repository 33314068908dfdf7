"""The Content-Security-Policy in a real browser: the admin and the user page work with it
on, and Chromium reports no violation (it logs each as "Refused to ..." on the console)."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from retrieval import dispatcher
from retrieval.models import RemoteAccount
from tests.browser import launch_chromium, playwright_session
from tests.factories import make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

PASSWORD = "browser csp password"


@pytest.fixture
def browser_page():
    """A tab, and every console message and script error it reports."""
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
            tab.set_default_timeout(10_000)
            reported = []
            tab.on("console", lambda msg: reported.append(f"{msg.type}: {msg.text}"))
            tab.on("pageerror", lambda exc: reported.append(f"pageerror: {exc}"))
            yield tab, reported
        finally:
            browser.close()


def violations(reported):
    return [m for m in reported
            if "Refused to" in m or "Content Security Policy" in m or m.startswith("pageerror")]


@pytest.fixture
def account(django_user_model):
    user = django_user_model.objects.create_user("webuser", password=PASSWORD)
    group = Group.objects.create(name="webmail")
    GroupPolicy.objects.create(group=group, allow_manual_check=True)
    user.groups.add(group)
    account = RemoteAccount(owner=make_mailbox("webuser@local.test", user=user),
                            host="pop.example.test", username="webuser")
    account.set_password("remote password")
    account.save()
    return account


def test_the_admin_works_under_the_policy(live_server, django_user_model, account,
                                          browser_page):
    page, reported = browser_page
    root = django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    # Its warning in the list is styled by the admin's extra style sheet.
    plain = RemoteAccount(owner=account.owner, host="pop.example.test", username="plain",
                          security=RemoteAccount.Security.NONE, port=110)
    plain.set_password("remote password")
    plain.save()
    base = live_server.url

    response = page.goto(base + "/admin/")  # redirected to the login page
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("root")

    page.goto(base + reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))
    # The owner autocomplete (select2, jQuery) runs from static files.
    page.click(".field-owner .select2-selection")
    page.fill(".select2-search__field", "webuser")
    expect(page.locator(".select2-results__option:has-text('webuser@local.test')")).to_be_visible()
    page.keyboard.press("Escape")
    page.fill("#id_host", "pop2.example.test")
    page.fill("#id_password", "typed again for the new server")
    # Save tests first, in place (a script under the CSP); the host does not exist.
    page.click("input[name=_save]")
    expect(page.locator("#popadmin-trial-result")).to_contain_text("Not saved")
    page.check("#id_save_anyway")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")

    page.goto(base + reverse("admin:retrieval_remoteaccount_changelist"))
    warning = page.locator(".popadmin-danger").filter(has_text="plain text")
    assert warning.evaluate("e => getComputedStyle(e).color") == "rgb(187, 0, 0)"

    for url in (reverse("admin:auth_user_change", args=[root.pk]),
                reverse("admin:accounts_mailbox_add"),
                reverse("admin:auditlog_logentry_changelist")):
        page.goto(base + url)
        expect(page.locator("#content")).to_be_visible()

    assert violations(reported) == [], reported


def test_the_user_page_works_under_the_policy(live_server, account, browser_page,
                                              monkeypatch):
    page, reported = browser_page
    # No worker here: the press is really queued (no task sent), and the card says so.
    monkeypatch.setattr(dispatcher, "enqueue_fetch", lambda pk, trigger, task_id=None: None)
    base = live_server.url

    page.goto(base + "/mail/accounts/")
    page.fill("#id_username", "webuser")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/mail/accounts/")
    # The style sheet applies (a file now, not an inline block).
    header = page.locator("header")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(31, 78, 102)"

    section = page.locator(f"#account-{account.pk}")
    section.get_by_role("button", name="Check now").click()
    expect(section.locator(".progress")).to_contain_text(
        "queued: 1st in line, waiting for a worker")
    assert page.url == base + "/mail/accounts/"  # the script posted it, no page load

    assert violations(reported) == [], reported
