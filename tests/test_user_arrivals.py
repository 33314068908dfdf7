"""What arrived: the user's delivered messages newest first, paginated, and each
account's last 20 checks with errors explained; nobody else's."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.models import Delivery
from retrieval.models import RemoteAccount, Run
from retrieval.views.arrivals import MESSAGES_PER_PAGE
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db



def person(django_user_model, name):
    user = django_user_model.objects.create_user(name, password="x")
    make_mailbox(f"{name}@local.test", user=user)
    account = RemoteAccount(owner=user.mailbox, host=f"pop.{name}.test", username=name)
    account.set_password("p")
    account.save()
    return user, account


def delivered(user, account, n, **fields):
    run = Run.objects.create(account=account, trigger="manual", status="ok")
    base = timezone.now() - dt.timedelta(hours=1)
    for i in range(n):
        Delivery.objects.create(
            mailbox=user.mailbox, run=run, message_key=f"k{i}", result="delivered",
            sender=f"Sender {i} <s{i}@example.test>", subject=f"Subject {i}",
            sent=base + dt.timedelta(minutes=i), size=2048, folder="",
            created=base + dt.timedelta(minutes=i), **fields)


def test_it_lists_the_users_mail_newest_first_with_its_details(client, django_user_model):
    me, mine = person(django_user_model, "me")
    them, theirs = person(django_user_model, "them")
    delivered(me, mine, 3)
    delivered(them, theirs, 1, recipient="secret@them.test")
    Delivery.objects.create(mailbox=me.mailbox, message_key="d", result="duplicate",
                            subject="Dropped duplicate")
    client.force_login(me)

    text = client.get(reverse("mail-messages")).content.decode()

    assert text.index("Subject 2") < text.index("Subject 1") < text.index("Subject 0")
    assert "Sender 2 &lt;s2@example.test&gt;" in text and "2.0\xa0KB" in text
    assert "INBOX" in text and str(mine) in text
    assert "Dropped duplicate" not in text and "secret@them.test" not in text


def test_it_pages_the_list(client, django_user_model):
    me, mine = person(django_user_model, "me")
    delivered(me, mine, MESSAGES_PER_PAGE + 2)
    client.force_login(me)

    first = client.get(reverse("mail-messages")).content.decode()
    second = client.get(reverse("mail-messages"), {"page": 2}).content.decode()

    assert "Page 1 of 2" in first and f"Subject {MESSAGES_PER_PAGE + 1}" in first
    assert "Subject 0" in second and f"Subject {MESSAGES_PER_PAGE + 1}" not in second


def test_it_shows_the_last_20_checks_with_errors_explained(client, django_user_model):
    me, mine = person(django_user_model, "me")
    start = timezone.now() - dt.timedelta(days=1)
    for i in range(25):
        Run.objects.create(account=mine, trigger="schedule", status="ok", delivered=i,
                           started=start + dt.timedelta(minutes=i))
    Run.objects.create(account=mine, trigger="manual", status="error",
                       error="connection refused by 1.2.3.4:995", started=timezone.now())
    client.force_login(me)

    response = client.get(reverse("mail-account-runs", args=[mine.pk]))

    text = response.content.decode()
    assert len(response.context["rows"]) == 20
    assert "The server refused the connection on this port." in text
    assert "What you can do:" in text
    assert ">24 delivered<" in text and ">5 delivered<" not in text
