"""The mail page's list: the user's messages newest first with sender, subject,
date and account; search; pages; folders and accounts with unread counts from
the Maildir; copies delivered elsewhere listed from their Delivery records with
the administrator's webmail link; the live feed of what arrived since."""

import re

import pytest
from django.urls import reverse

from delivery.models import Delivery, DeliveryTarget
from retrieval.mail_list import PER_PAGE
from retrieval.models import Run
from tests.factories import make_mailbox
from tests.mail_helpers import fresh_mail_root, minutes_ago, own_account, plain, store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mail_root(settings, tmp_path):
    return fresh_mail_root(settings, tmp_path)


@pytest.fixture
def me(django_user_model):
    user = django_user_model.objects.create_user("me", password="x")
    make_mailbox("me@local.test", user=user)
    return user


def page(client, user, **query):
    client.force_login(user)
    response = client.get(reverse("mail-home"), query)
    assert response.status_code == 200
    return response.content.decode()


def subjects(text):
    return re.findall(r'<span class="subject">(?:<span class="visually-hidden">Unread: </span>)?'
                      r"([^<]*)</span>", text)


def test_it_lists_the_users_messages_newest_first_with_sender_date_and_account(
        client, me, django_user_model):
    account = own_account(me.mailbox, "Old provider")
    run = Run.objects.create(account=account, trigger="manual", status="ok")
    for n in range(3):
        store(me.mailbox, plain(f"Subject {n}"), subject=f"Subject {n}", run=run,
              sender=f"Sender {n} <s{n}@example.test>", created=minutes_ago(10 - n))
    other = django_user_model.objects.create_user("other", password="x")
    make_mailbox("other@local.test", user=other)
    store(other.mailbox, plain("Not yours"), subject="Not yours")
    Delivery.objects.create(mailbox=me.mailbox, message_key="d", result="duplicate",
                            subject="Dropped duplicate")

    text = page(client, me)

    assert subjects(text) == ["Subject 2", "Subject 1", "Subject 0"]
    # The name, the whole address on hover; today's time (older mail: the date).
    assert 'title="Sender 2 &lt;s2@example.test&gt;">Sender 2</span>' in text
    assert re.search(r'<time class="date" datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d">'
                     r"\d\d:\d\d</time>", text)
    assert text.count("Old provider") >= 4  # each row, and the side panel
    assert "Not yours" not in text and "Dropped duplicate" not in text
    assert 'href="/mail/accounts/"' in text  # the accounts view stays one click away


def test_unread_counts_per_folder_and_account_come_from_the_maildir(client, me):
    account = own_account(me.mailbox)
    run = Run.objects.create(account=account, trigger="manual", status="ok")
    store(me.mailbox, plain(), run=run)
    store(me.mailbox, plain(), run=run, seen=True)
    store(me.mailbox, plain(), run=run, folder="Work/Reports")

    text = page(client, me)

    inbox = re.search(r'data-folder="INBOX".*?data-unread="(\d+)"', text, re.S)
    reports = re.search(r'data-folder="Work/Reports".*?data-unread="(\d+)"', text, re.S)
    account_count = re.search(rf'data-account="{account.pk}".*?data-unread="(\d+)"', text, re.S)
    assert (inbox.group(1), reports.group(1), account_count.group(1)) == ("1", "1", "2")
    assert text.count('class="msg unread"') == 2


def test_search_finds_sender_or_subject(client, me):
    store(me.mailbox, plain(), subject="Invoice 42", sender="Billing <b@shop.test>")
    store(me.mailbox, plain(), subject="Lunch?", sender="Bob <bob@friends.test>")
    store(me.mailbox, plain(), subject="Hello", sender="Shop news <news@shop.test>")

    assert sorted(subjects(page(client, me, q="shop.test"))) == ["Hello", "Invoice 42"]
    assert subjects(page(client, me, q="lunch")) == ["Lunch?"]
    assert "No message matches." in page(client, me, q="nothing like this")


def test_folder_and_account_filters(client, me):
    first, second = own_account(me.mailbox, "First"), own_account(me.mailbox, "Second")
    store(me.mailbox, plain(), subject="From first", run=Run.objects.create(
        account=first, trigger="manual", status="ok"))
    store(me.mailbox, plain(), subject="Report", folder="Work/Reports", run=Run.objects.create(
        account=second, trigger="manual", status="ok"))

    assert subjects(page(client, me, folder="Work/Reports")) == ["Report"]
    assert subjects(page(client, me, folder="INBOX")) == ["From first"]
    assert subjects(page(client, me, account=first.pk)) == ["From first"]
    # An id no database holds is no filter, not an error.
    assert len(subjects(page(client, me, account="9" * 40))) == 2
    client.get(reverse("mail-feed"), {"after": "9" * 40, "account": "1e9"}).json()


def link(text, rel):
    """The query string of the pager's link with this rel ("next": Older, "prev": Newer)."""
    found = re.search(rf'href="\?([^"]*)" rel="{rel}"', text)
    return found and dict(p.split("=", 1) for p in found.group(1).split("&amp;"))


def test_pages_of_fifty(client, me):
    for n in range(PER_PAGE + 3):
        Delivery.objects.create(mailbox=me.mailbox, message_key=f"k{n}", token=f"{n:032x}",
                                result="delivered", subject=f"Message {n}",
                                created=minutes_ago(1000 - n))

    first = page(client, me)
    second = page(client, me, **link(first, "next"))

    assert len(subjects(first)) == PER_PAGE and subjects(first)[0] == f"Message {PER_PAGE + 2}"
    assert link(first, "prev") is None
    assert subjects(second) == ["Message 2", "Message 1", "Message 0"]
    assert link(second, "next") is None and subjects(page(client, me, **link(second, "prev"))) \
        == subjects(first)


def test_search_results_page_too(client, me):
    for n in range(2 * PER_PAGE + 6):  # 53 invoices
        Delivery.objects.create(mailbox=me.mailbox, message_key=f"k{n}", token=f"{n:032x}",
                                result="delivered", subject=f"Invoice {n}" if n % 2 else f"Hi {n}",
                                created=minutes_ago(1000 - n))
    Delivery.objects.create(mailbox=me.mailbox, message_key="x", result="delivered",
                            subject="Invoice from someone else", sender="x@y.test")

    first = page(client, me, q="invoice")
    older = link(first, "next")
    second = page(client, me, **older)

    assert len(subjects(first)) == PER_PAGE and older["q"] == "invoice"
    assert len(subjects(second)) == 54 - PER_PAGE and link(second, "next") is None
    assert link(second, "prev")["q"] == "invoice"


def test_mail_delivered_elsewhere_links_to_the_webmail_the_admin_set(client, me):
    target = DeliveryTarget.objects.create(name="Dovecot", kind="lmtp", host="mx.local.test",
                                           webmail_url="https://webmail.local.test/")
    me.mailbox.delivery_target = target
    me.mailbox.save()
    delivery = store(me.mailbox, plain(), backend="lmtp", subject="Went to LMTP", folder="INBOX")

    listed = page(client, me)
    opened = client.get(reverse("mail-message", args=[delivery.pk])).content.decode()

    assert "Went to LMTP" in listed and "delivered elsewhere" in listed
    assert 'href="https://webmail.local.test/"' in opened and "Open your webmail" in opened
    target.webmail_url = ""
    target.save()
    opened = client.get(reverse("mail-message", args=[delivery.pk])).content.decode()
    assert "Open it in your mail program" in opened and "webmail.local.test" not in opened


def test_the_feed_returns_what_arrived_since_and_the_counts(client, me):
    old = store(me.mailbox, plain(), subject="Old")
    client.force_login(me)
    new = store(me.mailbox, plain(), subject="<b>New</b>", sender="Eve <eve@example.test>")

    feed = client.get(reverse("mail-feed"), {"after": old.pk}).json()

    assert [r["subject"] for r in feed["rows"]] == ["<b>New</b>"]  # text: the page escapes it
    assert feed["rows"][0]["url"] == reverse("mail-message", args=[new.pk])
    assert feed["rows"][0]["unread"] is True
    assert {"name": "INBOX", "unread": 2} in feed["folders"]


def test_the_old_arrived_mail_address_leads_to_the_mail_page(client, me):
    client.force_login(me)
    response = client.get("/mail/messages/?page=2")
    assert response.status_code == 302 and response["Location"] == "/mail/?page=2"


def test_messages_deleted_in_the_mailbox_cost_one_listing_per_folder(client, me, monkeypatch):
    from delivery import mailbox_reader
    from tests.mail_helpers import file_of

    gone = [store(me.mailbox, plain(), subject=f"Deleted {n}") for n in range(6)]
    for delivery in gone:
        file_of(me.mailbox, delivery).unlink()
    page(client, me)  # the listing is kept from here
    listings = []
    real = mailbox_reader.os.listdir
    monkeypatch.setattr(mailbox_reader.os, "listdir",
                        lambda fd: listings.append(fd) or real(fd))

    text = page(client, me)

    assert len(subjects(text)) == 6 and 'class="msg unread"' not in text
    assert len(listings) <= 2  # INBOX's new/ and cur/ once, not once per row
