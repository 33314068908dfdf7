# ruff: noqa: F811  (the logged-in page fixture comes from the stop-confirmation test)
"""The Global settings page says which connections the extra trusted CA file applies to
(remote accounts and delivery targets), in its own "Trusted certificates" section,
and saves a readable file, in headless Chromium at 1366 px and 390 px."""

import pytest
from playwright.sync_api import expect

from retrieval.models import GlobalSettings
from tests.browser import save_screenshot
from tests.dovecot import write_tls
from tests.test_settings_stop_confirmation_browser import page, settings_url  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]


def test_the_page_says_where_the_ca_file_applies(page, live_server, tmp_path):
    if page.popadmin_size == "desktop-noscript":
        pytest.skip("the stop confirmation's no-script variant only")
    (tmp_path / "tls").mkdir()
    ca_file = write_tls(tmp_path / "tls", "127.0.0.1")
    page.goto(settings_url(live_server.url))
    section = page.locator("fieldset").filter(has_text="Trusted certificates")
    expect(section).to_contain_text("remote accounts (POP3 and IMAP")
    expect(section).to_contain_text("delivery targets (SMTP with TLS or STARTTLS, IMAP APPEND)")
    expect(section).to_contain_text("LMTP targets speak no TLS")
    page.fill("#id_ca_file", str(ca_file))
    section.scroll_into_view_if_needed()
    save_screenshot(page, f"admin-settings-ca-file-{page.popadmin_size}")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert GlobalSettings.load().ca_file == str(ca_file)
