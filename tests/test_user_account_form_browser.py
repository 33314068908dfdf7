"""The user's account pages in headless Chromium: an edit keeps what an
administrator chose (shown read-only, saying who can change it); adding a Gmail
address without Sign in with Google says so before anything is typed; a user who
may not edit accounts is told an administrator must act; a new account leaves a
copy on the server. Screenshots at 1366 and 390 px go to tests/artifacts/.
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from retrieval.models import GlobalSettings
from tests.browser import (
    SCREENSHOTS,
    WIDE,
    launch_chromium,
    playwright_session,
    screenshot_on_failure,
    shots_at_both_widths,
)
from tests.factories import make_account, make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

LOGIN = "user form password"


def person(django_user_model, address, manage=True):
    user = django_user_model.objects.create_user("webuser", password=LOGIN)
    group = Group.objects.create(name="people")
    GroupPolicy.objects.create(group=group, allow_manual_check=True,
                               may_manage_own_accounts=manage, min_poll_minutes=5)
    user.groups.add(group)
    return make_mailbox(address, user=user)


@pytest.fixture
def page(live_server, settings):
    # No DNS here: the address lookup falls back to the table of known providers.
    settings.POPADMIN_DNS_SERVERS = ["127.0.0.1:9"]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport=WIDE).new_page()
            tab.set_default_timeout(20_000)
            yield tab
        finally:
            browser.close()


def log_in(page, base):
    page.goto(base + "/")
    page.fill("#id_username", "webuser")
    page.fill("#id_password", LOGIN)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/mail/")  # users land on their mail
    page.goto(base + "/mail/accounts/")


def shots(page, name):
    shots_at_both_widths(page, f"user-account-form-{name}")


def test_an_edit_keeps_what_an_administrator_chose(live_server, page, django_user_model,
                                                   dovecot, mail_user):
    username, _ = mail_user
    mailbox = person(django_user_model, "me@local.test")
    # Set up by an administrator: certificates not checked, reach not restricted; the
    # stored password is wrong, so Save offers "Save anyway".
    account = make_account(dovecot, username, "wrong", owner=mailbox, verify_tls=False,
                           network_restricted=False)
    base = live_server.url
    with screenshot_on_failure(page, SCREENSHOTS):
        log_in(page, base)
        page.goto(base + reverse("mail-account-edit", args=[account.pk]))
        chosen = page.locator("#admin-choices")
        expect(chosen).to_contain_text("Set by an administrator")
        expect(chosen).to_contain_text("Certificate checking is off")
        expect(chosen).to_contain_text("Network reach is not restricted")
        expect(chosen).to_contain_text("Only an administrator can change these")
        shots(page, "admin-choices")
        page.click("#save-button")
        expect(page.locator("#test-result")).to_contain_text(
            "The server refused the username or password.")
        page.check("input[name=save_anyway]")
        page.click("#save-button")
        expect(page).to_have_url(base + "/mail/accounts/")
    account.refresh_from_db()
    assert (account.verify_tls, account.network_restricted) == (False, False)


def test_gmail_without_sign_in_says_so_before_typing(live_server, page, django_user_model):
    person(django_user_model, "me@local.test")
    base = live_server.url
    with screenshot_on_failure(page, SCREENSHOTS):
        log_in(page, base)
        page.goto(base + reverse("mail-account-add") + "?address=someone%40gmail.com")
        notice = page.locator("#provider-notice")
        expect(notice).to_contain_text("Google does not accept your Google password here.")
        expect(notice).to_contain_text("app password")
        expect(notice).to_contain_text("ask your administrator to turn on Sign in with Google")
        # A new account leaves a copy on the server.
        expect(page.locator("#id_keep_policy")).to_have_value("keep")
        shots(page, "gmail-without-sign-in")


def test_a_user_who_may_not_edit_is_told_an_administrator_must(live_server, page,
                                                               django_user_model):
    mailbox = person(django_user_model, "me@local.test", manage=False)
    make_account_row(mailbox)
    base = live_server.url
    with screenshot_on_failure(page, SCREENSHOTS):
        log_in(page, base)
        card = page.locator(".account").first
        expect(card).to_contain_text("Only an administrator can fix this. Ask them:")
        expect(card).to_contain_text("must be entered in the account's settings")
        expect(card).not_to_contain_text("Enter the password again")
        expect(card).not_to_contain_text("press Test connection")
        shots(page, "no-self-service-error")


def make_account_row(mailbox):
    from retrieval.models import RemoteAccount
    account = RemoteAccount(owner=mailbox, host="pop.example.test", username="me",
                            last_status="error", consecutive_failures=1,
                            last_error="login refused by server: -ERR [AUTH] "
                                       "Authentication failed.")
    account.set_password("x")
    account.save()
    GlobalSettings.load()
    return account
