"""The push switch on the user's account form in headless Chromium, with a real watcher on
Dovecot: unticked, the card says push is off for the account; ticked again, new mail
arrives within seconds again; with a group that turns push off, the box is off, cannot be
ticked, and says why. Screenshots at 1366 and 390 px go to tests/artifacts/."""

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
from tests.watching import watcher_running

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

LOGIN = "push switch password"
WITHIN_SECONDS = "push: new mail arrives within seconds"


def shots(page, name):
    shots_at_both_widths(page, f"push-switch-{name}", no_side_scroll=True)


def save(page, base):
    page.click("#save-button")
    expect(page).to_have_url(base + reverse("mail-accounts"))


def test_the_user_switches_push_off_and_on(live_server, django_user_model, dovecot,
                                           mail_user, settings):
    settings.POPADMIN_WATCH_LEASE_SECONDS = 6
    settings.POPADMIN_ALLOWED_PORTS = [143, 993, dovecot.imaps_port]
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = ["127.0.0.0/8"]
    gs.save()
    user = django_user_model.objects.create_user("pushswitch", password=LOGIN)
    people = Group.objects.create(name="people")
    GroupPolicy.objects.create(group=people, may_manage_own_accounts=True, min_poll_minutes=5)
    user.groups.add(people)
    account = make_account(dovecot, *mail_user, owner=make_mailbox(user=user),
                           protocol="imap", host="127.0.0.1", network_restricted=True,
                           keep_policy="keep", name="Work IMAP")
    base = live_server.url
    edit = base + reverse("mail-account-edit", args=[account.pk])
    with playwright_session() as pw, watcher_running():
        browser = launch_chromium(pw)
        try:
            page = browser.new_context(viewport=WIDE).new_page()
            page.set_default_timeout(20_000)
            with screenshot_on_failure(page, SCREENSHOTS):
                page.goto(base + reverse("mail-accounts"))
                page.fill("#id_username", "pushswitch")
                page.fill("#id_password", LOGIN)
                page.click("button[type=submit]")
                page.goto(base + reverse("mail-accounts"))
                line = page.locator(f"#account-{account.pk} .push")
                expect(line).to_have_text(WITHIN_SECONDS)

                page.goto(edit)
                box = page.locator("#id_push")
                expect(box).to_be_checked()
                expect(page.locator(".field-push")).to_contain_text(
                    "new mail is fetched within seconds of reaching the server")
                page.locator(".field-push").scroll_into_view_if_needed()
                shots(page, "form")
                box.uncheck()
                save(page, base)
                expect(line).to_contain_text("push: off for this account")
                shots(page, "card-off")

                page.goto(edit)
                expect(box).not_to_be_checked()
                box.check()
                save(page, base)
                # The watcher signs in again at its next round; the page refreshes itself.
                for _ in range(6):
                    if line.text_content().strip() == WITHIN_SECONDS:
                        break
                    page.wait_for_timeout(2_000)
                    page.reload()
                expect(line).to_have_text(WITHIN_SECONDS)

                # A group that turns push off: shown off, cannot be ticked, and says why.
                no_push = Group.objects.create(name="polled only")
                GroupPolicy.objects.create(group=no_push, allow_push=False)
                user.groups.add(no_push)
                page.goto(edit)
                expect(box).to_be_disabled()
                expect(box).not_to_be_checked()
                expect(page.locator(".field-push")).to_contain_text(
                    "Your group has push turned off")
                page.locator(".field-push").scroll_into_view_if_needed()
                shots(page, "form-group-off")
                save(page, base)
                expect(line).to_contain_text("push: off for your group")
        finally:
            browser.close()
