"""The admin's address lookup on the add-account page, for Gmail and Microsoft
addresses, in headless Chromium at 1366 px and 390 px: where an OAuth2 provider of
that kind is set up, it offers "Sign in with Google/Microsoft" as the self-service
form does (choosing it picks the OAuth2 sign-in and hides the password); without
one it says what the administrator must set up and links the provider form."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from retrieval.models import OAuthProvider
from tests.browser import (
    WIDTHS,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.dnsserver import DnsServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

PASSWORD = "lookup sign in password"


@pytest.fixture(scope="module")
def empty_dns():
    with DnsServer({}, rdata={}) as dns_server:
        yield dns_server


@pytest.fixture(autouse=True)
def quiet_dns(settings, empty_dns):
    # No SRV records: the table of well-known providers answers.
    settings.POPADMIN_DNS_SERVERS = [empty_dns.address]


@pytest.fixture(params=list(WIDTHS))
def page(request, tmp_path, live_server, django_user_model):
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    width, height = WIDTHS[request.param]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport={"width": width, "height": height}).new_page()
            tab.popadmin_size = request.param
            with screenshot_on_failure(tab, tmp_path):
                tab.goto(live_server.url + "/admin/login/")
                tab.fill("#id_username", "root")
                tab.fill("#id_password", PASSWORD)
                tab.click("input[type=submit]")
                expect(tab.locator("#user-tools")).to_be_visible()
                yield tab
        finally:
            browser.close()


def look_up(page, base, address):
    page.goto(base + reverse("admin:retrieval_remoteaccount_add"))
    page.fill("#popadmin-lookup-address", address)
    page.click("#popadmin-lookup-button")
    expect(page.locator("#popadmin-lookup-result")).to_contain_text("Filled in")


def test_a_configured_provider_is_offered(page, live_server):
    OAuthProvider.objects.create(name="Our Google", preset="google", client_id="c")
    look_up(page, live_server.url, "someone@gmail.com")
    offer = page.locator("#popadmin-lookup-sign-in")
    expect(offer).to_have_text("Sign in with Google")
    expect(page.locator("#popadmin-lookup-result")).to_contain_text("“Our Google”")
    expect(page.locator("#id_password")).to_be_visible()
    save_screenshot(page, f"admin-lookup-offer-{page.popadmin_size}")
    offer.click()
    expect(page.locator("#id_auth_method")).to_have_value("xoauth2")
    expect(page.locator("#id_password")).to_be_hidden()
    expect(page.locator("#id_host")).to_have_value("imap.gmail.com")


def test_without_a_provider_it_says_what_to_set_up(page, live_server):
    OAuthProvider.objects.create(name="Only Google", preset="google", client_id="c")
    look_up(page, live_server.url, "someone@outlook.com")
    result = page.locator("#popadmin-lookup-result")
    expect(result).to_contain_text("Sign in with Microsoft is not set up")
    expect(page.locator("#popadmin-lookup-sign-in")).to_have_count(0)
    save_screenshot(page, f"admin-lookup-no-provider-{page.popadmin_size}")
    page.locator("#popadmin-lookup-configure").click()
    expect(page).to_have_url(live_server.url + reverse("admin:retrieval_oauthprovider_add")
                             + "?preset=microsoft")
    expect(page.locator("#id_preset")).to_have_value("microsoft")
