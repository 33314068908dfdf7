"""Each account's last 20 checks with errors explained; nobody else's.
(The messages that arrived are on the mail page: tests/test_mail_page.py.)"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from retrieval.models import RemoteAccount, Run
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db



def person(django_user_model, name):
    user = django_user_model.objects.create_user(name, password="x")
    make_mailbox(f"{name}@local.test", user=user)
    account = RemoteAccount(owner=user.mailbox, host=f"pop.{name}.test", username=name)
    account.set_password("p")
    account.save()
    return user, account


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
    # This person may not change the account: the next step says whose it is.
    assert "Only an administrator can fix this. Ask them:" in text
    assert ">24 delivered<" in text and ">5 delivered<" not in text
