"""Paging the mail list by position (keyset): Older and Newer walk every
message exactly once, newest first, also where many arrived at the same
moment; Oldest jumps to the end; a cursor that was tampered with gives the
first page, and one taken from another user's page shows only the reader's
own mail; a page costs the same handful of queries however many rows it has."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.models import Delivery
from retrieval.mail_list import PER_PAGE
from retrieval.models import Run
from tests.factories import make_mailbox
from tests.mail_helpers import fresh_mail_root, own_account, plain, store

pytestmark = pytest.mark.django_db
MESSAGES = 2 * PER_PAGE + 37


@pytest.fixture(autouse=True)
def mail_root(settings, tmp_path):
    return fresh_mail_root(settings, tmp_path)


def user_with_mailbox(django_user_model, name):
    user = django_user_model.objects.create_user(name, password="x")
    make_mailbox(f"{name}@local.test", user=user)
    return user


@pytest.fixture
def me(django_user_model):
    return user_with_mailbox(django_user_model, "me")


def records(mailbox, count, *, prefix="Message", start=None):
    """`count` delivered records, seven at a time arriving in the same microsecond."""
    start = start or timezone.now() - dt.timedelta(days=1)
    made = Delivery.objects.bulk_create(
        Delivery(mailbox=mailbox, message_key=f"{prefix}{n}", token=f"{prefix}{n}"[:32],
                 result="delivered", subject=f"{prefix} {n}",
                 created=start + dt.timedelta(minutes=n // 7))
        for n in range(count))
    return sorted(made, key=lambda d: (d.created, d.pk), reverse=True)


def get(client, **query):
    response = client.get(reverse("mail-home"), query)
    assert response.status_code == 200
    return response.content.decode()


def ids(text):
    return [int(n) for n in re.findall(r'<li class="msg[^"]*" data-id="(\d+)"', text)]


def link(text, rel):
    found = re.search(rf'href="\?([^"]*)" rel="{rel}"', text)
    return found and dict(p.split("=", 1) for p in found.group(1).split("&amp;"))


def walk(client, rel, **start):
    """Every page from `start` following one link; the ids of each page."""
    pages, query = [], start
    while query is not None:
        text = get(client, **query)
        pages.append(ids(text))
        query = link(text, rel)
        assert len(pages) < 20, "the links go round in circles"
    return pages


def test_older_then_newer_visit_every_message_once_newest_first(client, me):
    expected = [d.pk for d in records(me.mailbox, MESSAGES)]
    client.force_login(me)

    down = walk(client, "next")

    assert [len(p) for p in down] == [PER_PAGE, PER_PAGE, 37]
    assert sum(down, []) == expected  # no gap, no repeat, at the seams of equal times too
    oldest_page = get(client, **link(get(client), "next"))
    oldest_page = get(client, **link(oldest_page, "next"))
    up = walk(client, "prev", **link(oldest_page, "prev"))
    assert sum(up[::-1], []) + down[-1] == expected
    assert up[-1] == down[0]  # Newer from the second page is the first page again


def test_oldest_is_the_last_fifty_and_its_newer_links_lead_back_to_the_top(client, me):
    expected = [d.pk for d in records(me.mailbox, MESSAGES)]
    client.force_login(me)
    first = get(client)
    oldest = re.search(r'href="\?(newer=0_0)" class="end">Oldest', first)

    text = get(client, newer="0_0")

    assert oldest and ids(text) == expected[-PER_PAGE:]
    assert link(text, "next") is None and "« Newest" in text
    up = walk(client, "prev", **link(text, "prev"))
    # Each step up shows the fifty above; the top is the first page, a whole
    # one, so it may repeat some of the page below it.
    assert list(dict.fromkeys(sum(up[::-1], []) + ids(text))) == expected
    assert up[-1] == ids(first) and [len(p) for p in up] == [PER_PAGE, PER_PAGE]


def test_a_new_message_does_not_shift_a_page_that_is_bookmarked(client, me):
    records(me.mailbox, MESSAGES)
    client.force_login(me)
    second = link(get(client), "next")
    before = ids(get(client, **second))

    records(me.mailbox, 3, prefix="New", start=timezone.now())

    assert ids(get(client, **second)) == before


@pytest.mark.parametrize("query", [
    {"older": "yesterday"}, {"older": "1_"}, {"older": "-5_3"}, {"newer": "12_x"},
    {"older": "1" * 17 + "_" + "9" * 18}, {"newer": "9" * 40 + "_1"}, {"older": "0_0"},
    {"older": "1_2_3"}, {"newer": "1_1", "older": "\x00"}, {"older": "١٢_٣"},
])
def test_a_tampered_cursor_gives_a_page_not_an_error(client, me, query):
    expected = [d.pk for d in records(me.mailbox, MESSAGES)]
    client.force_login(me)

    text = get(client, **query)

    shown = ids(text)
    assert len(shown) <= PER_PAGE and set(shown) <= set(expected)
    assert shown == sorted(shown, key=expected.index)


def test_another_users_cursor_never_shows_their_mail(client, me, django_user_model):
    them = user_with_mailbox(django_user_model, "them")
    theirs = {d.pk for d in records(them.mailbox, MESSAGES, prefix="Theirs")}
    mine = [d.pk for d in records(me.mailbox, 10)]
    client.force_login(them)
    their_cursor = link(get(client), "next")
    assert their_cursor and "Theirs" in get(client, **their_cursor)

    client.force_login(me)
    for query in (their_cursor, {"newer": their_cursor["older"]}, {"newer": "0_0"}):
        text = get(client, **query)
        assert not set(ids(text)) & theirs and "Theirs" not in text
        assert set(ids(text)) <= set(mine)


def a_busy_mailbox(mailbox, messages):
    accounts = [own_account(mailbox, "First"), own_account(mailbox, "Second")]
    runs = [Run.objects.create(account=a, trigger="manual", status="ok") for a in accounts]
    for n in range(messages):
        store(mailbox, plain(), run=runs[n % 2], subject=f"Note {n}", seen=n % 3 == 0,
              folder="Work" if n % 5 == 0 else "", backend="lmtp" if n % 11 == 0 else "maildir")
    return accounts


@pytest.mark.parametrize("messages", [3, 2 * PER_PAGE + 5])
def test_a_page_costs_the_same_few_queries_however_many_rows(
        client, me, django_assert_max_num_queries, messages):
    accounts = a_busy_mailbox(me.mailbox, messages)
    client.force_login(me)
    older = link(get(client), "next") or {}
    get(client)  # the Maildir listing and the counts kept from here, as between requests

    for query in ({}, older, {"newer": "0_0"}, {"q": "Note 1"}, {"folder": "Work"},
                  {"account": accounts[1].pk}):
        # Session, user, mailbox, two group policies, service state, accounts;
        # a search's window edge, the page (and the first page when Newer
        # reached the top); the records' signature, the unread per account,
        # the default target, the folders of mail delivered elsewhere; the
        # session's save. None of them once per row.
        with django_assert_max_num_queries(17):
            get(client, **query)
    with django_assert_max_num_queries(12):
        client.get(reverse("mail-feed"), {"after": 0})


def test_a_search_looks_through_a_bounded_window_and_older_searches_on(client, me, monkeypatch):
    from retrieval import mail_paging

    monkeypatch.setattr(mail_paging, "SLICES", (4, 6))  # a window of ten messages
    made = records(me.mailbox, 40)
    rare = {d.pk for i, d in enumerate(made) if i in (2, 15, 16, 17, 39)}
    Delivery.objects.filter(pk__in=rare).update(subject="Rare invoice")
    client.force_login(me)

    first = get(client, q="rare")
    assert ids(first) == [made[2].pk]  # only the first ten were looked through
    assert "Looked through the messages as far as" in first
    found, query = [], {"q": "rare"}
    while query is not None:
        text = get(client, **query)
        found += ids(text)
        query = link(text, "next")
        assert len(found) < 10
    assert found == [d.pk for d in made if d.pk in rare]  # each once, newest first
    assert "Looked through" not in text  # the last window reached the oldest message


def test_a_deep_page_skips_nothing_it_reads_from_its_cursor(client, me):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    records(me.mailbox, MESSAGES)
    client.force_login(me)
    deep = link(get(client, **link(get(client), "next")), "next")

    with CaptureQueriesContext(connection) as queries:
        text = get(client, **deep)

    listed = [q["sql"] for q in queries.captured_queries
              if 'FROM "delivery_delivery"' in q["sql"] and "ORDER BY" in q["sql"]
              and '"subject"' in q["sql"]]
    assert len(ids(text)) == 37 and len(listed) == 1
    assert "OFFSET" not in listed[0].upper() and "LIMIT 51" in listed[0].upper()
