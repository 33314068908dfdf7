"""The account cards on /mail/accounts/ in headless Chromium: a new account's
card follows its first check live and keeps saying what it collected; the
last-check line and the progress line describe the same check in the same
words; Check all now gives each card its own place in line; messages the
server would not send appear in the live refresh.

No Celery worker: the page queues as usual (the task send is replaced by a
no-op), and the test runs the queued task itself, what a worker would do,
while the browser watches. Screenshots go to $POPADMIN_SCREENSHOTS or
tests/artifacts/.
"""

import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import GroupPolicy
from retrieval import dispatcher, tasks
from retrieval.models import RemoteAccount, Run
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
from tests.fakeserver import FakeServer
from tests.misbehaving import REFUSE, MisbehavingPop3, big_messages

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.usefixtures("allow_orm_beside_playwright"),
]

LOGIN_PASSWORD = "browser user password"


@pytest.fixture
def browser():
    with playwright_session() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Checks are queued (claimed) as usual; the test runs their tasks itself."""
    monkeypatch.setattr(dispatcher, "enqueue_fetch", lambda pk, trigger, task_id=None: None)


def member(django_user_model, address):
    user = django_user_model.objects.create_user("carduser", password=LOGIN_PASSWORD)
    group = Group.objects.create(name="checkers")
    GroupPolicy.objects.create(group=group, allow_manual_check=True,
                               may_manage_own_accounts=True)
    user.groups.add(group)
    return user, make_mailbox(address, user=user)


def accounts_page(browser, base, viewport=WIDE):
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/mail/accounts/")
    page.fill("#id_username", "carduser")
    page.fill("#id_password", LOGIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/mail/accounts/")
    return page


def assert_fits(page, width):
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow}px wide on a {width}px screen"


def test_a_new_account_follows_its_first_check_live_and_keeps_what_it_collected(
    live_server, django_user_model, dovecot, mail_user, browser
):
    username, password = mail_user
    dovecot.deliver_many(username, 20)
    user, mailbox = member(django_user_model, f"{username}@local.test")
    # As self-service Save leaves it: due now, never checked.
    account = make_account(dovecot, username, password, owner=mailbox, name="New mailbox",
                           next_check=timezone.now())
    page = accounts_page(browser, live_server.url)

    with screenshot_on_failure(page, SCREENSHOTS):
        card = page.locator(f"#account-{account.pk}")
        expect(card.locator(".last-result")).to_have_text("never checked")
        progress = card.locator(".progress")
        expect(progress).to_have_text("first check due now: waiting for the scheduler to start it")
        save_screenshot(page, "account-cards-first-check-due-1366")

        # The dispatcher's tick queues it (what beat would do) ...
        assert dispatcher.dispatch(enqueue=lambda pk, trigger: None) == [account.pk]
        expect(progress).to_have_text("queued: 1st in line, waiting for a worker")
        # ... and a worker runs it.
        tasks.fetch_account(account.pk, Run.Trigger.SCHEDULE)

        expect(progress).to_have_text("checked just now: OK, 20 new messages")
        expect(card.locator(".last-result")).to_have_text("OK")
        expect(card.locator(".last-check")).to_contain_text("(just now)")
        expect(card.get_by_role("button", name="Check now: New mailbox")).to_be_enabled()
        save_screenshot(page, "account-cards-first-check-done-1366")

        page.reload()
        expect(progress).to_have_text("checked just now: OK, 20 new messages")
    assert dovecot.messages(username) == []


def test_the_last_check_and_the_progress_line_tell_the_same_check(
    live_server, django_user_model, browser
):
    user, mailbox = member(django_user_model, "times@local.test")
    now = timezone.now()
    # Mail two minutes ago, then an automatic check that found nothing (it keeps no run).
    quiet = RemoteAccount(owner=mailbox, host="pop.example.test", username="quiet",
                          name="Quiet since", last_check=now - dt.timedelta(seconds=5),
                          last_status="ok", next_check=now + dt.timedelta(minutes=10))
    # Checked 45 seconds ago: under a minute.
    recent = RemoteAccount(owner=mailbox, host="pop.example.test", username="recent",
                           name="Checked recently", last_check=now - dt.timedelta(seconds=45),
                           last_status="ok", next_check=now + dt.timedelta(minutes=10))
    for account in (quiet, recent):
        account.set_password("secret")
        account.save()
    Run.objects.create(account=quiet, trigger="manual", status="ok", delivered=20, fetched=20,
                       total=20, finished=now - dt.timedelta(minutes=2))
    Run.objects.create(account=recent, trigger="manual", status="ok", delivered=2, fetched=2,
                       total=2, finished=recent.last_check)

    for name, viewport in (("1366", WIDE), ("390", PHONE)):
        page = accounts_page(browser, live_server.url, viewport)
        with screenshot_on_failure(page, SCREENSHOTS):
            first = page.locator(f"#account-{quiet.pk}")
            expect(first.locator(".last-check")).to_contain_text("(just now)")
            expect(first.locator(".progress")).to_have_text(
                "checked just now: OK, no new messages")
            second = page.locator(f"#account-{recent.pk}")
            expect(second.locator(".last-check")).to_contain_text("(just now)")
            expect(second.locator(".progress")).to_have_text(
                "checked just now: OK, 2 new messages")
            expect(page.locator("main")).not_to_contain_text("0 minutes")
            # The live refresh says the same as the page.
            live = page.evaluate("url => fetch(url).then(r => r.json())",
                                 f"/mail/accounts/{recent.pk}/progress")
            assert live["card"]["line"] == "checked just now: OK, 2 new messages"
            assert_fits(page, viewport["width"])
            save_screenshot(page, f"account-cards-times-{name}")


def test_check_all_now_shows_each_card_its_place_in_line(
    live_server, django_user_model, dovecot, mail_user, browser
):
    username, password = mail_user
    dovecot.deliver_many(username, 2)
    user, mailbox = member(django_user_model, f"{username}@local.test")
    last = timezone.now() - dt.timedelta(hours=1)
    times = {"last_check": last, "last_status": "ok", "next_check": last + dt.timedelta(hours=2)}
    # The first is the one whose turn comes in this test; the others only wait.
    accounts = [make_account(dovecot, username, password, owner=mailbox, name="Mailbox 1",
                             **times)]
    for n in (2, 3):
        waiting = RemoteAccount(owner=mailbox, host="pop.example.test", username=f"user{n}",
                                name=f"Mailbox {n}", **times)
        waiting.set_password("secret")
        waiting.save()
        accounts.append(waiting)
    page = accounts_page(browser, live_server.url)

    with screenshot_on_failure(page, SCREENSHOTS):
        page.get_by_role("button", name="Check all now").click()
        lines = [page.locator(f"#account-{a.pk} .progress") for a in accounts]
        expect(lines[0]).to_have_text("queued: 1st in line, waiting for a worker")
        expect(lines[1]).to_have_text("queued: 2nd in line (1 check ahead), waiting for a worker")
        expect(lines[2]).to_have_text(
            "queued: 3rd in line (2 checks ahead), waiting for a worker")
        save_screenshot(page, "account-cards-check-all-1366")

        # The first one's turn: the others move up.
        tasks.fetch_account(accounts[0].pk, Run.Trigger.MANUAL)
        expect(lines[0]).to_have_text("checked just now: OK, 2 new messages")
        expect(lines[1]).to_have_text("queued: 1st in line, waiting for a worker")
        expect(lines[2]).to_have_text("queued: 2nd in line (1 check ahead), waiting for a worker")

    phone = accounts_page(browser, live_server.url, PHONE)
    with screenshot_on_failure(phone, SCREENSHOTS):
        expect(phone.locator(f"#account-{accounts[2].pk} .progress")).to_have_text(
            "queued: 2nd in line (1 check ahead), waiting for a worker")
        assert_fits(phone, 390)
        save_screenshot(phone, "account-cards-check-all-390")


def test_messages_the_server_would_not_send_show_in_the_live_refresh(
    live_server, django_user_model, browser
):
    user, mailbox = member(django_user_model, "refused@local.test")
    box = MisbehavingPop3(big_messages(3, uuid.uuid4().hex[:8], octets=2000),
                          {"uid-2": REFUSE})
    with FakeServer(box) as server:
        account = RemoteAccount(owner=mailbox, protocol="pop3", security="none",
                                host="127.0.0.1", port=server.port, username="alice",
                                name="Refusing server", keep_policy="delete")
        account.set_password("secret")
        account.save()
        page = accounts_page(browser, live_server.url)

        with screenshot_on_failure(page, SCREENSHOTS):
            card = page.locator(f"#account-{account.pk}")
            refused = card.locator(".refused")
            expect(refused).to_be_hidden()
            card.get_by_role("button", name="Check now: Refusing server").click()
            expect(card.locator(".progress")).to_contain_text("queued")
            tasks.fetch_account(account.pk, Run.Trigger.MANUAL)

            expect(refused).to_be_visible()
            expect(card.locator(".progress")).to_have_text(
                "checked just now: 2 delivered, 1 not delivered")
            expect(refused.locator("li")).to_have_count(1)
            expect(refused.locator("li")).to_contain_text(
                "message uid-2 (")
            expect(refused.locator("li")).to_contain_text("failed 1 of 3 attempts")
            save_screenshot(page, "account-cards-refused-1366")
