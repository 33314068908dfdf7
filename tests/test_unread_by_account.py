"""Unread messages per account stay exact when many are unread (the kept
token -> account map): after a message is opened, one arrives, an IMAP client
marks one read, and history pruning deletes records."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.models import Delivery
from retrieval import mail_list, retention, unread_by_account
from retrieval.models import Run
from tests.factories import make_mailbox
from tests.mail_helpers import file_of, fresh_mail_root, own_account, plain, store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mail_root(settings, tmp_path):
    return fresh_mail_root(settings, tmp_path)


@pytest.fixture(params=["few unread: one query", "many unread: the kept map"])
def limit(request, monkeypatch):
    if request.param.startswith("many"):
        monkeypatch.setattr(unread_by_account, "IN_QUERY_LIMIT", 1)
    monkeypatch.setattr(unread_by_account, "_maps", type(unread_by_account._maps)())
    return request.param


def test_counts_follow_reading_arrivals_imap_clients_and_pruning(client, django_user_model,
                                                                 limit):
    user = django_user_model.objects.create_user("me", password="x")
    mailbox = make_mailbox("me@local.test", user=user)
    first, second = own_account(mailbox, "First"), own_account(mailbox, "Second")
    runs = {a.pk: Run.objects.create(account=a, trigger="manual", status="ok")
            for a in (first, second)}

    def deliver(account, **kw):
        return store(mailbox, plain(), run=runs[account.pk], **kw)

    mine = [deliver(first) for _ in range(3)] + [deliver(second) for _ in range(2)]
    deliver(second, seen=True)
    deliver(first, folder="Work")
    store(mailbox, plain(), backend="lmtp", run=runs[first.pk])  # not in the Maildir
    counts = lambda: mail_list.account_unread(mailbox)  # noqa: E731
    assert counts() == {first.pk: 4, second.pk: 2}

    client.force_login(user)
    assert client.get(reverse("mail-message", args=[mine[0].pk])).status_code == 200
    assert counts() == {first.pk: 3, second.pk: 2}

    deliver(second)
    assert counts() == {first.pk: 3, second.pk: 3}

    # An IMAP client reads one: the file moves to cur/ with the S flag.
    path = file_of(mailbox, mine[3])
    path.rename(path.parent.parent / "cur" / (path.name + ":2,S"))
    assert counts() == {first.pk: 3, second.pk: 2}

    # History pruning deletes old records: their files are no longer counted.
    Delivery.objects.filter(pk__in=[mine[1].pk, mine[4].pk]).update(
        created=timezone.now() - dt.timedelta(days=400))
    assert retention.prune_history()["deliveries"] == 2
    assert counts() == {first.pk: 2, second.pk: 1}


def test_records_removed_another_way_are_caught_by_the_periodic_check(django_user_model,
                                                                      monkeypatch):
    monkeypatch.setattr(unread_by_account, "IN_QUERY_LIMIT", 1)
    monkeypatch.setattr(unread_by_account, "_maps", type(unread_by_account._maps)())
    mailbox = make_mailbox("me@local.test", user=django_user_model.objects.create_user("me"))
    account = own_account(mailbox)
    run = Run.objects.create(account=account, trigger="manual", status="ok")
    mine = [store(mailbox, plain(), run=run) for _ in range(4)]
    assert mail_list.account_unread(mailbox) == {account.pk: 4}

    Delivery.objects.filter(pk=mine[0].pk).delete()  # not through pruning: no new generation
    monkeypatch.setattr(unread_by_account, "CHECK_SECONDS", -1)

    assert mail_list.account_unread(mailbox) == {account.pk: 3}
