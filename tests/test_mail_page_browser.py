"""The mail page in headless Chromium at 1366 px and 390 px: side panel, list,
reading pane; a hostile HTML message shown without its script or its remote
images until asked; list → message on a phone; the Older, Newer, Oldest and
Newest links; and Check mail against a real Dovecot, the new messages sliding
into the list without a reload.

The check runs without a Celery worker: the page queues it as usual, and the
test runs the queued task itself (what a worker would do) while the browser
watches. Screenshots go to $POPADMIN_SCREENSHOTS or tests/artifacts/.
"""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from delivery.models import DeliveryTarget
from popadmin.celery import app
from retrieval import tasks
from retrieval.models import Run
from tests.browser import (
    PHONE,
    SCREENSHOTS,
    WIDE,
    launch_chromium,
    playwright_session,
    save_screenshot,
    screenshot_on_failure,
)
from tests.factories import make_account, make_mailbox
from tests.mail_helpers import file_of, fresh_mail_root, minutes_ago, own_account, plain, store

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

LOGIN_PASSWORD = "browser user password"
HOSTILE = """<p id="greeting">Dear reader,</p><p>Our <b>quarterly</b> figures are in.</p>
<script>document.getElementById('greeting').textContent = 'SCRIPT RAN';</script>
<img src="https://tracker.test/pixel.gif" alt="tracker" onerror="this.alt='handler ran'">
<p><a href="https://example.test/report">Read the report</a></p>"""


@pytest.fixture(autouse=True)
def mail_root(settings, tmp_path):
    return fresh_mail_root(settings, tmp_path)


@pytest.fixture
def browser():
    with playwright_session() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


def tab(browser, viewport, remote_requests, console=None):
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(15_000)
    if console is not None:
        page.on("console", lambda message: console.append(message.text))

    def refuse(route):
        remote_requests.append(route.request.url)
        route.abort()

    page.route("https://tracker.test/**", refuse)
    return page


def member(django_user_model, address):
    user = django_user_model.objects.create_user("webuser", password=LOGIN_PASSWORD)
    group = Group.objects.create(name="webmail")
    GroupPolicy.objects.create(group=group, allow_manual_check=True,
                               may_manage_own_accounts=True)
    user.groups.add(group)
    return user, make_mailbox(address, user=user)


def log_in(page, base):
    page.goto(base + "/")
    page.fill("#id_username", "webuser")
    page.fill("#id_password", LOGIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/mail/")


def assert_fits(page, width):
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow}px wide on a {width}px screen"


def a_full_mailbox(mailbox):
    work, old = own_account(mailbox, "Work mailbox"), own_account(mailbox, "Old provider")
    runs = [Run.objects.create(account=a, trigger="schedule", status="ok") for a in (work, old)]
    people = ["Anna Example <anna@example.test>", "Bob Builder <bob@builder.test>",
              "Shop <news@shop.test>", "Carol <carol@example.test>"]
    for n in range(22):
        folder = "Work/Reports" if n % 7 == 3 else ""
        store(mailbox, plain(f"Weekly note {n}", f"Note number {n}.\n", sender=people[n % 4]),
              folder=folder,
              run=runs[n % 2], subject=f"Weekly note {n}: plans, figures and a longer line",
              sender=people[n % 4], created=minutes_ago(600 - n * 20), seen=n % 3 == 0)
    target = DeliveryTarget.objects.create(name="Company server", kind="lmtp", host="mx.test",
                                           webmail_url="https://webmail.example.test/")
    old.delivery_target = target
    old.save()
    store(mailbox, plain("Elsewhere"), backend="lmtp", run=runs[1], created=minutes_ago(5),
          subject="Delivered to the company server", sender="IT <it@example.test>")
    attachment = ("figures.csv", "text/csv", b"quarter,total\nQ1,10\n")
    return store(mailbox, plain("Quarterly figures", "Plain version.", html=HOSTILE,
                                attachments=[attachment]),
                 run=runs[0], subject="Quarterly figures", sender=people[0],
                 created=minutes_ago(1))


def test_reading_mail_at_1366_and_390(live_server, django_user_model, browser):
    user, mailbox = member(django_user_model, "reader@local.test")
    hostile = a_full_mailbox(mailbox)
    base, remote, console = live_server.url, [], []

    page = tab(browser, WIDE, remote, console)
    with screenshot_on_failure(page, SCREENSHOTS):
        log_in(page, base)
        rows = page.locator("#message-list li.msg")
        expect(rows).to_have_count(24)
        expect(rows.first).to_contain_text("Quarterly figures")
        expect(rows.first).to_contain_text("Work mailbox")
        expect(page.get_by_role("button", name="Check mail")).to_be_visible()
        inbox = page.locator('.folders a[data-folder="INBOX"] .count')
        expect(inbox).to_have_text("13")  # 19 in INBOX, 6 of them already read
        assert_fits(page, 1366)
        # Three panes in the window: the list scrolls, not the page.
        assert page.evaluate("document.documentElement.scrollHeight") <= WIDE["height"]
        save_screenshot(page, "mail-list-1366")

        page.evaluate("window.samePage = 'yes'")
        rows.first.click()
        expect(page).to_have_url(f"{base}/mail/{hostile.pk}/")
        pane = page.locator("article.mail-read")
        expect(pane.locator(".read-subject")).to_have_text("Quarterly figures")
        expect(pane.get_by_role("link", name="figures.csv")).to_be_visible()
        body = page.frame_locator("iframe.read-html")
        expect(body.locator("p").first).to_have_text("Dear reader,")  # the script never ran
        expect(body.get_by_role("link", name="Read the report")).to_be_visible()
        expect(inbox).to_have_text("12")  # opened: seen
        # Opened in the pane: the list was not loaded again.
        assert page.evaluate("window.samePage") == "yes"
        expect(rows.first).not_to_have_class("msg unread")
        expect(rows.first).to_have_attribute("class", "msg current")
        assert remote == []
        assert file_of(mailbox, hostile).name.endswith(":2,S")
        save_screenshot(page, "mail-message-1366")

        pane.get_by_role("link", name="Show remote images").click()
        expect(body.locator("img")).to_have_count(1)
        page.wait_for_timeout(500)
        assert remote == ["https://tracker.test/pixel.gif"]
        expect(body.locator("p").first).to_have_text("Dear reader,")
        # Nothing was blocked because nothing tried: no script, no inline code on the page.
        assert not [text for text in console if "Content Security Policy" in text], console

        page.get_by_role("link", name="Delivered to the company server").click()
        link = pane.get_by_role("link", name="Open your webmail")
        expect(link).to_have_attribute("href", "https://webmail.example.test/")
        save_screenshot(page, "mail-elsewhere-1366")

        page.fill("#mail-search", "builder")
        page.get_by_role("button", name="Search").click()
        expect(rows).to_have_count(6)
        save_screenshot(page, "mail-search-1366")

    phone = tab(browser, PHONE, remote)
    with screenshot_on_failure(phone, SCREENSHOTS):
        log_in(phone, base)
        rows = phone.locator("#message-list li.msg")
        expect(rows.first).to_be_visible()
        expect(phone.locator("article.mail-read")).to_be_hidden()
        expect(phone.get_by_text("Folders and accounts")).to_be_visible()
        expect(phone.locator(".side-accounts")).to_be_hidden()  # folded on a phone

        assert_fits(phone, 390)
        save_screenshot(phone, "mail-list-390")

        rows.nth(2).click()
        expect(phone.locator("#message-list")).to_be_hidden()
        expect(phone.locator("article.mail-read .read-text")).to_contain_text("Note number")
        assert_fits(phone, 390)
        save_screenshot(phone, "mail-message-390")
        phone.get_by_role("link", name="← Back to the list").click()
        expect(phone).to_have_url(base + "/mail/")
        expect(rows.first).to_be_visible()

        phone.fill("#mail-search", "quarterly")
        phone.get_by_role("button", name="Search").click()
        expect(rows).to_have_count(1)
        # The script folds the panel on a phone (open without script): measured after it ran.
        phone.wait_for_load_state("load")
        # A short list: the folded side panel stays one line, not half the screen.
        assert phone.locator("aside.mail-side").bounding_box()["height"] < 60
        save_screenshot(phone, "mail-search-390")


def test_check_mail_slides_new_messages_into_the_list_without_a_reload(
    live_server, django_user_model, dovecot, mail_user, browser
):
    username, password = mail_user
    dovecot.deliver_many(username, 3)
    user, mailbox = member(django_user_model, f"{username}@local.test")
    account = make_account(dovecot, username, password, owner=mailbox, name="Dovecot account")
    store(mailbox, plain("Already here"), subject="Already here", created=minutes_ago(30))
    base, page = live_server.url, tab(browser, WIDE, [])

    with screenshot_on_failure(page, SCREENSHOTS):
        log_in(page, base)
        rows = page.locator("#message-list li.msg")
        expect(rows).to_have_count(1)
        page.evaluate("window.samePage = 'yes'")
        page.get_by_role("button", name="Check mail").click()
        progress = page.locator("#check-progress")
        expect(progress).to_contain_text("Dovecot account: queued")
        queued = Run.objects.filter(account=account).count()

        # What the worker would do with the queued task, here in the test.
        tasks.fetch_account(account.pk, Run.Trigger.MANUAL)

        expect(rows).to_have_count(4, timeout=30_000)
        expect(page.locator("#message-list li.msg.arrived")).to_have_count(3)
        expect(rows.first).to_contain_text("sender@example.test")
        expect(rows.nth(3)).to_contain_text("Already here")
        expect(progress).to_contain_text("OK, 3 new messages")
        expect(page.get_by_role("button", name="Check mail")).to_be_enabled()
        count = page.locator(f'.side-accounts li[data-account="{account.pk}"] .count')
        expect(count).to_have_text("3")
        assert page.evaluate("window.samePage") == "yes"
        assert page.url == base + "/mail/"
        save_screenshot(page, "mail-check-live-1366")
    app.control.purge()  # the task the page queued: already done above
    assert queued == 0 and dovecot.messages(username) == []


def test_older_newer_oldest_and_newest_links_at_1366_and_390(
        live_server, django_user_model, browser):
    user, mailbox = member(django_user_model, "pager@local.test")
    account = own_account(mailbox, "Work mailbox")
    run = Run.objects.create(account=account, trigger="schedule", status="ok")
    same_minute = minutes_ago(500)
    for n in range(120):  # ten at a time arrive in the same microsecond
        store(mailbox, plain(f"Note {n:03d}"), run=run, subject=f"Note {n:03d}",
              created=same_minute + dt.timedelta(minutes=n // 10), seen=n % 2 == 0)
    base = live_server.url

    for viewport, width in ((WIDE, 1366), (PHONE, 390)):
        page = tab(browser, viewport, [])
        with screenshot_on_failure(page, SCREENSHOTS):
            log_in(page, base)
            rows, pager = page.locator("#message-list li.msg"), page.locator("nav.pager")
            expect(rows).to_have_count(50)
            expect(rows.first).to_contain_text("Note 119")
            expect(pager.get_by_role("link", name="← Newer")).to_have_count(0)
            pager.get_by_role("link", name="Older →").click()
            expect(page).to_have_url(re.compile(r"/mail/\?older=\d+_\d+$"))
            expect(rows).to_have_count(50)
            expect(rows.first).to_contain_text("Note 069")
            expect(rows.last).to_contain_text("Note 020")
            assert_fits(page, width)
            pager.scroll_into_view_if_needed()
            assert pager.bounding_box()["width"] <= width
            save_screenshot(page, f"mail-pager-older-{width}")
            pager.screenshot(path=str(SCREENSHOTS / f"mail-pager-links-{width}.png"))

            # A message opened from this page comes back to this page.
            second_page = page.url
            rows.nth(3).click()
            expect(page.locator("article.mail-read .read-subject")).to_have_text("Note 066")
            page.reload()
            expect(rows.first).to_contain_text("Note 069")
            expect(page.locator("article.mail-read .read-subject")).to_have_text("Note 066")
            page.goto(second_page)

            pager.get_by_role("link", name="Oldest »").click()
            expect(rows).to_have_count(50)
            expect(rows.first).to_contain_text("Note 049")
            expect(rows.last).to_contain_text("Note 000")
            expect(pager.get_by_role("link", name="Older →")).to_have_count(0)
            pager.scroll_into_view_if_needed()
            save_screenshot(page, f"mail-pager-oldest-{width}")
            pager.get_by_role("link", name="← Newer").click()
            expect(rows.first).to_contain_text("Note 099")
            expect(rows.last).to_contain_text("Note 050")
            pager.get_by_role("link", name="« Newest").click()
            expect(page).to_have_url(base + "/mail/")
            expect(rows.first).to_contain_text("Note 119")
        page.context.close()
