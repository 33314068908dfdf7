"""The Import page's preview in headless Chromium at 1366 px and 390 px: an update lists
each changed field old → new, a `skip` entry says "created disabled", and rewriting an
account its user set up needs the "Check first" box ticked before Import goes through.

Screenshots go to $POPADMIN_SCREENSHOTS (default tests/artifacts/, gitignored).
"""

import pytest
from playwright.sync_api import expect

from accounts.models import Mailbox
from retrieval.models import RemoteAccount
from tests.browser import SCREENSHOTS, save_screenshot
from tests.test_import_page_browser import ADMIN_PASSWORD, fits_the_screen, page  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("fast_password_hashing", "allow_orm_beside_playwright"),
]

OLD_PASSWORD = "old-pass-never-shown"
NEW_PASSWORD = "new-pass-never-shown"
RC = f"""poll pop.remote.test proto imap port 143
  user alice with pass "{NEW_PASSWORD}" is alice@local.test here
skip paused.remote.test proto pop3
  user ann with pass "pw-ann-never-shown" is alice@local.test here
"""


def shot(tab, name):
    save_screenshot(tab, f"import-changes-{name}-{tab.popadmin_size}")


@pytest.fixture
def alices_pop3_account(django_user_model):
    django_user_model.objects.create_superuser("root", "root@local.test", ADMIN_PASSWORD)
    alice = django_user_model.objects.create_user("alice")
    mailbox = Mailbox.objects.create(address="alice@local.test", user=alice)
    account = RemoteAccount(owner=mailbox, host="pop.remote.test", username="alice",
                            keep_policy="keep", created_by_user=True)
    account.set_password(OLD_PASSWORD)
    account.save()
    return account


def test_the_preview_shows_each_change_and_asks_before_rewriting(
        live_server, alices_pop3_account, tmp_path, page):  # noqa: F811
    rc = tmp_path / "fetchmailrc"
    rc.write_text(RC)
    base = live_server.url
    try:
        page.goto(base + "/admin/")
        page.fill("#id_username", "root")
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("input[type=submit]")
        page.goto(base + "/admin/import/")
        page.set_input_files("#id_fm-rcfile", str(rc))
        page.get_by_role("button", name="Preview fetchmail import").click()

        update = page.locator(".popadmin-import-row--update")
        changes = update.locator(".popadmin-import-changes li")
        expect(changes.filter(has_text="protocol:")).to_have_text("protocol: pop3 → imap")
        expect(changes.filter(has_text="port:")).to_have_text("port: default (995) → 143")
        expect(changes.filter(has_text="keep:")).to_have_text("keep: keep → delete")
        expect(changes.filter(has_text="password:")).to_have_text("password: changed")
        expect(changes.filter(has_text="host:")).to_have_count(0)
        warnings = update.locator(".popadmin-import-warnings li")
        expect(warnings.first).to_have_text(
            "Check first: set up by the user alice on their own pages; this import rewrites it")
        expect(warnings.nth(1)).to_contain_text("POP3 on port 995 → IMAP on port 143")
        skipped = page.locator(".popadmin-import-row--create")
        expect(skipped).to_contain_text(
            "created disabled (skip in the fetchmailrc: fetchmail does not poll it)")
        box = page.get_by_label("I have checked the 1 account(s) marked “Check first”",
                                exact=False)
        expect(box).not_to_be_checked()
        shot(page, "1-preview")
        fits_the_screen(page)
        for secret in (OLD_PASSWORD, NEW_PASSWORD):
            assert secret not in page.content()

        # Import without the box: the browser holds the form back, nothing is written.
        page.get_by_role("button", name="Import").click()
        assert page.evaluate("document.querySelector('[name=confirm_rewrites]').validity"
                             ".valueMissing")
        expect(page.locator(".popadmin-import-summary")).to_contain_text("dry run")
        alices_pop3_account.refresh_from_db()
        assert alices_pop3_account.protocol == "pop3"

        box.check()
        page.get_by_role("button", name="Import").click()
        expect(page.locator(".popadmin-import-summary")).to_have_text(
            "accounts: 1 created, 1 updated, 0 unchanged, 0 not importable; "
            "0 already-taken message(s) recorded; 1 confirmed rewrite(s)")
        expect(page.locator(".popadmin-import-row--update .popadmin-import-changes")
               ).to_contain_text("protocol: pop3 → imap")
        shot(page, "2-result")
        fits_the_screen(page)
        alices_pop3_account.refresh_from_db()
        assert (alices_pop3_account.protocol, alices_pop3_account.port) == ("imap", 143)
        assert not RemoteAccount.objects.get(username="ann").enabled
        assert RemoteAccount.objects.count() == 2
        assert not [m for m in page.console
                    if "Refused to" in m or "Content Security Policy" in m
                    or m.startswith("pageerror")]
    except BaseException:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"import-changes-failure-{page.popadmin_size}"
                                              ".png"), full_page=True)
        raise
