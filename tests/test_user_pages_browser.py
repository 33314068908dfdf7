"""The user pages in headless Chromium, at 1366 px and at 390 px (a phone):
self-service add with a server suggested by a real local DNS server (SRV
record to the test Dovecot), Test connection, Save, Check now with a real
worker until the new mail is in the mail page's list; errors with next steps.

Screenshots go to $POPADMIN_SCREENSHOTS or tests/artifacts/ (gitignored).
"""


import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from delivery.models import Delivery
from retrieval.models import GlobalSettings, RemoteAccount
from tests.browser import (
    PHONE,
    SCREENSHOTS,
    WIDE,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
    start_worker,
)
from tests.dnsserver import DnsServer
from tests.factories import make_account, make_mailbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

LOGIN_PASSWORD = "browser user password"


@pytest.fixture(scope="module")
def dns_server():
    with DnsServer({"localhost": [["127.0.0.1"]]}) as server:
        yield server


def allowed_ports(dovecot):
    return [110, 995, 143, 993, dovecot.pop3s_port]


@pytest.fixture(scope="module")
def reach_worker(django_db_setup, django_db_blocker, tmp_path_factory, dovecot, dns_server):
    """A real worker resolving through the test DNS server, with the Dovecot port allowed."""
    proc = start_worker(django_db_blocker, tmp_path_factory,
                        POPADMIN_CA_FILE=dovecot.ca_file, POPADMIN_DNS_SERVERS=dns_server.address,
                        POPADMIN_ALLOWED_PORTS=",".join(str(p) for p in allowed_ports(dovecot)))
    yield proc
    proc.stop()


@pytest.fixture
def reach(settings, dovecot, dns_server):
    settings.POPADMIN_DNS_SERVERS = [dns_server.address]
    settings.POPADMIN_ALLOWED_PORTS = allowed_ports(dovecot)
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = ["127.0.0.0/8"]
    gs.save()
    return dns_server


@pytest.fixture
def browser():
    with playwright_session() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


def tab(browser, viewport):
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(15_000)
    return page


def shot(page, name):
    save_screenshot(page, name)


def member(django_user_model, address):
    user = django_user_model.objects.create_user("webuser", password=LOGIN_PASSWORD)
    group = Group.objects.create(name="self-service")
    GroupPolicy.objects.create(group=group, allow_manual_check=True,
                               may_manage_own_accounts=True, min_poll_minutes=5)
    user.groups.add(group)
    return user, make_mailbox(address, user=user)


def log_in(page, base):
    page.goto(base + "/")
    expect(page.locator(".entry-brand")).to_have_text("popadmin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to your mail")
    page.fill("#id_username", "webuser")
    page.fill("#id_password", LOGIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/mail/")
    page.get_by_role("link", name="Accounts", exact=True).click()
    expect(page).to_have_url(base + "/mail/accounts/")


def assert_fits(page, width):
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow}px wide on a {width}px screen"


def test_self_service_add_with_a_suggested_server_then_check_until_the_mail_is_listed(
    live_server, django_user_model, dovecot, mail_user, reach, reach_worker, browser
):
    username, password = mail_user
    dovecot.deliver_many(username, 2)
    reach.rdata[("_pop3s._tcp.far.test", "SRV")] = [f"0 1 {dovecot.pop3s_port} localhost."]
    user, mailbox = member(django_user_model, f"{username}@local.test")
    base, page = live_server.url, tab(browser, WIDE)

    with screenshot_on_failure(page, SCREENSHOTS, reach_worker):
        log_in(page, base)
        page.get_by_role("link", name="Add an account").click()
        page.fill("#id_address", f"{username}@far.test")
        shot(page, "selfservice-1-address-1366")
        page.get_by_role("button", name="Look up the server settings").click()

        expect(page.locator(".suggestion")).to_contain_text(
            f"POP3 TLS localhost:{dovecot.pop3s_port}")
        expect(page.locator(".suggestion")).to_contain_text("DNS SRV record _pop3s._tcp.far.test")
        expect(page.locator("#id_host")).to_have_value("localhost")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.get_by_role("button", name="Test connection").click()
        expect(page.locator("#test-result")).to_contain_text(
            "it works. connected and logged in: 2 message(s)")
        # Tested in place: the typed password is still there for Save.
        expect(page.locator("#id_password")).to_have_value(password)
        shot(page, "selfservice-2-tested-1366")
        page.get_by_role("button", name="Save").click()

        expect(page).to_have_url(base + "/mail/accounts/")
        account = RemoteAccount.objects.get(owner=mailbox)
        assert account.network_restricted
        card = page.locator(f"#account-{account.pk}")
        expect(card.locator(".last-result")).to_have_text("never checked")
        # No beat here: the card says the first check is due, and may be asked for at once.
        expect(card.locator(".progress")).to_have_text(
            "first check due now: waiting for the scheduler to start it")
        card.get_by_role("button", name=f"Check now: {account}").click()
        expect(card.locator(".progress")).to_have_text(
            "checked just now: OK, 2 new messages", timeout=45_000)
        # The card itself carries the new status, without a reload.
        expect(card.locator(".last-result")).to_have_text("OK")
        expect(card.locator(".last-check")).to_contain_text("(just now)")
        expect(card.locator(".next-check")).to_contain_text("(in ")
        shot(page, "selfservice-3-checked-1366")

        page.get_by_role("link", name="Mail", exact=True).click()
        rows = page.locator("#message-list li.msg")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("test message 2 of 2")
        expect(rows.first).to_contain_text("sender@example.test")
        shot(page, "arrived-1366")
    # A new account leaves a copy on the server (the default keep policy).
    assert len(dovecot.messages(username)) == 2


def test_errors_with_next_steps_and_the_phone_layout(
    live_server, django_user_model, dovecot, mail_user, browser, settings
):
    user, mailbox = member(django_user_model, "phone@local.test")
    make_account(dovecot, mail_user[0], mail_user[1], owner=mailbox, name="Work mailbox",
                 last_status="error", last_check=None,
                 last_error="login refused by the server: -ERR [AUTH] Authentication failed.")
    make_account(dovecot, "other", "x", owner=mailbox, name="Old provider", host="127.0.0.1",
                 last_status="error",
                 last_error="TLS handshake failed: certificate verify failed")
    for n in range(3):
        Delivery.objects.create(
            mailbox=mailbox, message_key=f"k{n}", result="delivered", size=48_000 * (n + 1),
            sender=f"Anna Example <anna.example{n}@example.test>",
            subject=f"Quarterly report, part {n + 1}: figures and a rather long subject line",
            sent=timezone.now(), folder="Work/Reports")
    base = live_server.url

    for name, viewport in (("1366", WIDE), ("390", PHONE)):
        page = tab(browser, viewport)
        log_in(page, base)
        cards = page.locator("section.account")
        expect(cards).to_have_count(2)
        work = cards.filter(has_text="Work mailbox")
        expect(work).to_contain_text("The server refused the username or password.")
        expect(work).to_contain_text("What you can do: Enter the password again")
        old = cards.filter(has_text="Old provider")
        expect(old).to_contain_text("Only an administrator can fix this. Ask them:")
        expect(old).to_contain_text("extra trusted CA file")
        # Every button names its account for screen readers.
        expect(page.get_by_role("button", name="Check now: Work mailbox")).to_be_visible()
        expect(page.get_by_role("button", name="Disable: Old provider")).to_be_visible()
        assert_fits(page, viewport["width"])
        shot(page, f"accounts-errors-{name}")

        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

        page.get_by_role("link", name="Add an account").click()
        page.fill("#id_address", "someone@gmail.com")
        page.get_by_role("button", name="Look up the server settings").click()
        expect(page.locator(".suggestion")).to_contain_text("known provider Gmail")
        expect(page.locator(".field-keep_days")).to_be_hidden()  # shown when it applies
        page.select_option("#id_keep_policy", "keep_days")
        expect(page.locator(".field-keep_days")).to_be_visible()
        expect(page.locator("#id_folders")).to_have_value("")
        assert_fits(page, viewport["width"])
        shot(page, f"account-form-{name}")

        page.get_by_role("link", name="Mail", exact=True).click()
        expect(page.locator("#message-list li.msg")).to_have_count(3)
        assert_fits(page, viewport["width"])
        shot(page, f"arrived-{name}")
        page.context.close()
