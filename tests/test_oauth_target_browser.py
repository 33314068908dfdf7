# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""An administrator connects an IMAP APPEND delivery target's OAuth2 sign-in in a real
browser: the target's admin page says "not signed in: connect", Connect leads to the
provider (the auto-approving test authorization server) and back to the target, which then
says whom it is signed in as; an expired sign-in says so and Reconnect signs in again.

Headless Chromium (Playwright). Screenshots at 1366 and 390 px go to $POPADMIN_SCREENSHOTS
or tests/artifacts/ (gitignored)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from delivery.targets import DeliveryTarget
from retrieval.models import OAuthGrant
from tests.browser import (
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.oauth_helpers import oauth_server, provider  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

PASSWORD = "target admin password"


def test_an_administrator_connects_a_delivery_targets_sign_in(
    live_server, django_user_model, provider, tmp_path
):
    base = live_server.url
    target = DeliveryTarget.objects.create(
        name="Gmail archive", kind="imap", host="127.0.0.1", port=993, security="tls",
        username="archive", auth_method="xoauth2")
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    change = base + reverse("admin:delivery_deliverytarget_change", args=[target.pk])

    with playwright_session() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(15_000)
        with screenshot_on_failure(page, tmp_path):
            page.goto(change)
            page.fill("#id_username", "root")
            page.fill("#id_password", PASSWORD)
            page.click("[type=submit]")
            sign_in = page.locator(".field-oauth_sign_in")
            expect(sign_in).to_contain_text("not signed in: connect")
            # It signs in with its grant: no password field, until the method changes.
            expect(page.locator(".field-password")).to_be_hidden()
            page.select_option("#id_auth_method", "password")
            expect(page.locator(".field-password")).to_be_visible()
            page.select_option("#id_auth_method", "xoauth2")
            expect(page.locator(".field-password")).to_be_hidden()

            sign_in.get_by_role("link", name="Connect").click()
            expect(page.locator("body")).to_contain_text("store mail in")
            page.get_by_role("link", name="Sign in with Test IdP").click()

            # To the test authorization server, which approves at once, and back.
            expect(page).to_have_url(change)
            expect(sign_in).to_contain_text("signed in as archive")
            grant = OAuthGrant.objects.get(target=target)
            assert grant.account_id is None and not grant.expired
            for width, height in ((1366, 900), (390, 844)):
                page.set_viewport_size({"width": width, "height": height})
                save_screenshot(page, f"oauth-target-connected-{width}")
            page.set_viewport_size({"width": 1366, "height": 900})

            OAuthGrant.objects.filter(target=target).update(expired=True)  # provider refused
            page.reload()
            expect(sign_in).to_contain_text("sign-in expired: reconnect")
            sign_in.get_by_role("link", name="Reconnect").click()
            page.get_by_role("link", name="Sign in with Test IdP again").click()
            expect(page).to_have_url(change)
            expect(sign_in).to_contain_text("signed in as archive")
            assert not OAuthGrant.objects.get(target=target).expired
        browser.close()
