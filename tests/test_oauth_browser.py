# ruff: noqa: F811  (pytest fixtures imported from tests/oauth_helpers.py)
"""OAuth2 sign-in in a real browser, end to end: an administrator sets up a Google provider
(preset, with the test authorization server's endpoints); a user adds a Gmail address, is
offered "Sign in with Google" instead of a password, signs in at the (auto-approving) test
authorization server and comes back to the user page; Check now fetches the mail from a real
Dovecot that checks the token; an expired sign-in shows Reconnect, which signs in again.

Headless Chromium (Playwright), a real Celery worker. Screenshots at 1366 and 390 px go to
$POPADMIN_SCREENSHOTS or tests/artifacts/ (gitignored)."""

import secrets

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from retrieval.models import GlobalSettings, OAuthGrant, OAuthProvider, RemoteAccount
from tests.browser import (
    PHONE,
    WIDE,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
    start_worker,
)
from tests.dnsserver import DnsServer
from tests.factories import local_messages, make_mailbox
from tests.oauth_helpers import oauth_dovecot, oauth_server  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

PASSWORD = "browser login password"


def ports(oauth_dovecot):
    return [110, 995, 143, 993, oauth_dovecot.imaps_port]


@pytest.fixture(scope="module")
def empty_dns():
    # No SRV records: gmail.com is recognised from the known-provider table.
    with DnsServer({}) as server:
        yield server


@pytest.fixture(scope="module")
def oauth_worker(django_db_setup, django_db_blocker, tmp_path_factory, oauth_dovecot):
    """A real worker trusting the OAuth Dovecot's CA, with its port allowed."""
    proc = start_worker(django_db_blocker, tmp_path_factory,
                        POPADMIN_CA_FILE=oauth_dovecot.ca_file,
                        POPADMIN_ALLOWED_PORTS=",".join(map(str, ports(oauth_dovecot))))
    yield proc
    proc.stop()


@pytest.fixture
def browser():
    with playwright_session() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


def tab(browser, viewport=WIDE):
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(15_000)
    return page


def shot(page, name):
    save_screenshot(page, name)


def log_in(page, base, username, path):
    page.goto(base + path)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("[type=submit]")


def add_google_provider(page, base, oauth_server):
    page.goto(base + reverse("admin:retrieval_oauthprovider_add"))
    page.fill("#id_name", "Google")
    page.select_option("#id_preset", "google")
    page.fill("#id_client_id", oauth_server.client_id)
    page.fill("#id_client_secret", oauth_server.client_secret)
    # The preset fills only what is left empty: here the test server stands in for Google.
    page.fill("#id_authorization_endpoint", oauth_server.url + "/authorize")
    page.fill("#id_token_endpoint", oauth_server.url + "/token")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")


def test_a_user_signs_in_with_google_and_collects_mail(
    live_server, django_user_model, settings, oauth_server, oauth_dovecot, oauth_worker,
    empty_dns, browser, tmp_path,
):
    base = live_server.url
    settings.POPADMIN_DNS_SERVERS = [empty_dns.address]
    settings.POPADMIN_ALLOWED_PORTS = ports(oauth_dovecot)
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = ["127.0.0.0/8"]
    gs.save()
    mail_user = f"g{secrets.token_hex(4)}"
    oauth_dovecot.deliver_many(mail_user, 2)
    django_user_model.objects.create_superuser("root", "root@local.test", PASSWORD)
    user = django_user_model.objects.create_user("webuser", password=PASSWORD)
    group = Group.objects.create(name="self-service")
    GroupPolicy.objects.create(group=group, allow_manual_check=True,
                               may_manage_own_accounts=True)
    user.groups.add(group)
    mailbox = make_mailbox("webuser@local.test", user=user)

    admin = tab(browser)
    with screenshot_on_failure(admin, tmp_path, oauth_worker):
        log_in(admin, base, "root", "/admin/")
        add_google_provider(admin, base, oauth_server)
        provider = OAuthProvider.objects.get()
        assert provider.revocation_endpoint.startswith("https://oauth2.googleapis.com/")
        # The admin's own account form hides the password for an OAuth2 account.
        admin.goto(base + reverse("admin:retrieval_remoteaccount_add"))
        expect(admin.locator(".field-password")).to_be_visible()
        admin.select_option("#id_auth_method", "xoauth2")
        expect(admin.locator(".field-password")).to_be_hidden()

    page = tab(browser)
    with screenshot_on_failure(page, tmp_path, oauth_worker):
        log_in(page, base, "webuser", "/mail/accounts/")
        page.get_by_role("link", name="Add an account").click()
        page.fill("#id_address", f"{mail_user}@gmail.com")
        page.get_by_role("button", name="Look up the server settings").click()

        expect(page.locator(".oauth-offer")).to_contain_text("signs in at Google")
        expect(page.locator(".field-password")).to_be_hidden()
        save = page.locator("#save-button")
        expect(save).to_have_text("Save and sign in with Google")
        shot(page, "oauth-add-1366")
        page.set_viewport_size(PHONE)
        shot(page, "oauth-add-390")
        page.set_viewport_size(WIDE)
        # Our Dovecot stands in for imap.gmail.com, and knows the user without @gmail.com.
        page.fill("#id_host", "127.0.0.1")
        page.fill("#id_port", str(oauth_dovecot.imaps_port))
        page.fill("#id_username", mail_user)
        save.click()

        # To the test authorization server, which approves at once, and back.
        expect(page).to_have_url(base + "/mail/accounts/")
        expect(page.locator(".messages")).to_contain_text(f"as {mail_user}")
        account = RemoteAccount.objects.get(owner=mailbox)
        card = page.locator(f"#account-{account.pk}")
        expect(card.locator(".oauth-grant")).to_contain_text(
            f"Signed in with Google as {mail_user}")
        assert not account.has_password and account.auth_method == "xoauth2"

        card.get_by_role("button", name="Check now").click()
        expect(card.locator(".progress")).to_have_text(
            "checked just now: OK, 2 new messages", timeout=30_000)
        # Collected, and a copy left on the server (the default for a new account).
        assert len(local_messages(mailbox)) == 2 and len(oauth_dovecot.messages(mail_user)) == 2
        shot(page, "oauth-card-connected-1366")

        # The provider refuses the grant: the card says so and offers Reconnect.
        OAuthGrant.objects.filter(account=account).update(expired=True)
        page.reload()
        expect(card.locator(".oauth-warning")).to_have_text("sign-in expired: reconnect")
        shot(page, "oauth-card-expired-1366")
        page.set_viewport_size(PHONE)
        shot(page, "oauth-card-expired-390")
        page.set_viewport_size(WIDE)
        card.get_by_role("link", name="Reconnect").click()
        page.get_by_role("link", name="Sign in with Google again").click()
        expect(page).to_have_url(base + "/mail/accounts/")
        expect(card.locator(".oauth-grant")).not_to_contain_text("expired")
        assert not OAuthGrant.objects.get(account=account).expired

    with screenshot_on_failure(admin, tmp_path, oauth_worker):
        admin.goto(base + reverse("admin:retrieval_remoteaccount_change", args=[account.pk]))
        status = admin.locator(".popadmin-status")
        expect(status).to_contain_text(f"Signed in with Google as {mail_user}")
        expect(status.get_by_role("link", name="Reconnect")).to_be_visible()
        shot(admin, "oauth-admin-account-1366")
        admin.set_viewport_size(PHONE)
        shot(admin, "oauth-admin-account-390")
