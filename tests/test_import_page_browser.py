"""The Import page in headless Chromium at 1366 px and 390 px: a fetchmailrc with its
.fetchids uploaded, previewed, confirmed, and the imported accounts one click away.

Screenshots go to $POPADMIN_SCREENSHOTS (default tests/artifacts/, gitignored).
"""


import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import Mailbox
from retrieval.models import RemoteAccount, SeenMessage
from tests.browser import SCREENSHOTS, WIDTHS, launch_chromium, playwright_session, save_screenshot
from tests.test_imap_seen_uids import mark_seen
from tests.test_migration_end_to_end import _uidls, quoted

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

ADMIN_PASSWORD = "browser import password"


@pytest.fixture(params=list(WIDTHS))
def page(request):
    width, height = WIDTHS[request.param]
    with playwright_session() as pw:
        browser = launch_chromium(pw)
        try:
            tab = browser.new_context(viewport={"width": width, "height": height}).new_page()
            tab.set_default_timeout(20_000)
            tab.popadmin_size = request.param
            tab.console = []
            tab.on("console", lambda msg: tab.console.append(f"{msg.type}: {msg.text}"))
            tab.on("pageerror", lambda exc: tab.console.append(f"pageerror: {exc}"))
            tab.missing = []
            tab.on("response", lambda r: r.status == 404 and tab.missing.append(r.url))
            yield tab
        finally:
            browser.close()


def shot(page, name):
    save_screenshot(page, f"import-{name}-{page.popadmin_size}")


def fits_the_screen(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{width} px wide"


def test_import_a_fetchmailrc_with_its_fetchids(live_server, django_user_model, dovecot,
                                                tmp_path, page):
    pop_user, pop_password = dovecot.add_user()
    dovecot.deliver_many(pop_user, 3)
    taken = _uidls(dovecot, pop_user, pop_password)
    imap_user, imap_password = imap = dovecot.add_user()
    dovecot.deliver_many(imap_user, 3)
    mark_seen(dovecot, imap, [1, 2])
    django_user_model.objects.create_superuser("root", "root@local.test", ADMIN_PASSWORD)
    Mailbox.objects.create(address="esr@local.test")
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll localhost with proto pop3 port {dovecot.pop3s_port}\n"
        f"  user {pop_user} there with password {quoted(pop_password)} is esr@local.test here\n"
        "  options ssl keep\n"
        f"poll 127.0.0.1 proto imap port {dovecot.imaps_port}\n"
        f"  user {imap_user} with password {quoted(imap_password)} is esr@local.test here\n"
        "  options ssl keep folder INBOX\n"
        "poll kerberos.remote.test auth kerberos user k pass p is esr@local.test here\n"
    )
    ids = tmp_path / ".fetchids"
    ids.write_text("".join(f"{pop_user}@localhost {uid}\n" for uid in taken))
    base = live_server.url

    try:
        page.goto(base + "/admin/")
        page.fill("#id_username", "root")
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text("root")
        page.goto(base + "/admin/")  # staff land on the dashboard
        page.get_by_role("link", name="Import accounts from fetchmail or getmail").click()
        expect(page.locator("h1")).to_have_text("Import from fetchmail or getmail")
        expect(page.locator("#id_fm-seen_from_server")).to_be_checked()
        page.set_input_files("#id_fm-rcfile", str(rc))
        page.set_input_files("#id_fm-state", str(ids))
        shot(page, "1-upload")
        fits_the_screen(page)
        page.get_by_role("button", name="Preview fetchmail import").click()

        summary = page.locator(".popadmin-import-summary")
        expect(summary).to_contain_text("dry run, nothing written: accounts: 2 created")
        expect(summary).to_contain_text("5 already-taken message(s)")
        pop_row = page.locator(".popadmin-import-row").filter(has_text=f"{pop_user}@localhost")
        expect(pop_row).to_contain_text("3 message(s) taken before")
        imap_row = page.locator(".popadmin-import-row").filter(has_text=imap_user)
        expect(imap_row).to_contain_text("2 message(s) flagged \\Seen on the server")
        refused = page.locator(".popadmin-import-row--refused")
        expect(refused).to_contain_text("fetchmailrc:7")
        expect(refused).to_contain_text("kerberos")
        assert not RemoteAccount.objects.exists()
        shot(page, "2-preview")
        fits_the_screen(page)
        for secret in (pop_password, imap_password):
            assert secret not in page.content()

        page.get_by_role("button", name="Import").click()
        expect(page.locator(".popadmin-import-summary")).to_have_text(
            "accounts: 2 created, 0 updated, 0 unchanged, 1 not importable; "
            "5 already-taken message(s) recorded")
        shot(page, "3-result")
        fits_the_screen(page)
        for secret in (pop_password, imap_password):
            assert secret not in page.content()
        assert SeenMessage.objects.count() == 5

        account = RemoteAccount.objects.get(username=imap_user)
        page.get_by_role("link", name=f"{imap_user}@127.0.0.1").click()
        assert page.url == base + reverse("admin:retrieval_remoteaccount_change",
                                          args=[account.pk])
        expect(page.locator("#id_username")).to_have_value(imap_user)
        assert not [m for m in page.console
                    if "Refused to" in m or "Content Security Policy" in m
                    or m.startswith("pageerror")]
        # The style sheets and scripts the pages use all load (a browser's favicon guess aside).
        assert [u for u in page.missing if not u.endswith("/favicon.ico")] == []
    except BaseException:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"import-failure-{page.popadmin_size}.png"),
                        full_page=True)
        raise
