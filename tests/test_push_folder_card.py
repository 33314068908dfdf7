"""What the card, the schedule and /metrics say of an account watched on several folders:
each folder's connection on its own, summed up per account and per server."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from retrieval import push_schedule
from retrieval.models import PushWatch, RemoteAccount
from retrieval.ops import push as push_ops
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db

IDLE, FAILING, CONNECTING = (PushWatch.State.IDLE, PushWatch.State.FAILING,
                             PushWatch.State.CONNECTING)


@pytest.fixture
def account(client):
    user = get_user_model().objects.create_user("folders", password="pw-Folders-1")
    client.force_login(user)
    return RemoteAccount.objects.create(owner=make_mailbox(user=user), protocol="imap",
                                        host="imap.example.test", username="u",
                                        folders=["INBOX", "Archive", "Lists"], poll_minutes=5)


def watch(account, state, connections, connected, **folders):
    PushWatch.objects.update_or_create(account=account, defaults={
        "watcher": "w1", "until": timezone.now() + dt.timedelta(seconds=30), "state": state,
        "connections": connections, "connected": connected,
        "folders": {name: {"state": s, "error": e} for name, (s, e) in folders.items()}})


def card(client) -> str:
    response = client.get(reverse("mail-accounts"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_card_names_the_folders_push_covers_and_why_not_the_others(client, account):
    watch(account, IDLE, 3, 3, INBOX=(IDLE, ""), Archive=(IDLE, ""), Lists=(IDLE, ""))
    assert "push: new mail in each of its 3 folders arrives within seconds" in card(client)
    watch(account, FAILING, 3, 2, INBOX=(IDLE, ""), Archive=(IDLE, ""),
          Lists=(FAILING, "Lists: server refused to open folder: no such folder"))
    html = card(client)
    assert ("push: new mail in INBOX, Archive arrives within seconds; Lists: not working "
            "(server refused to open folder: no such folder); new mail there arrives at the "
            "next check") in html
    watch(account, CONNECTING, 2, 1, INBOX=(IDLE, ""), Archive=(CONNECTING, ""))
    assert ("push: new mail in INBOX arrives within seconds; connecting to Archive…; Lists: "
            "not watched, the server&#x27;s limit of idle connections is reached") in card(client)


def test_the_safety_interval_needs_every_folder_watched_and_healthy(account):
    now, five = timezone.now(), dt.timedelta(minutes=5)
    watch(account, IDLE, 2, 2)
    assert push_schedule.safety_interval(account, five, now) == five
    watch(account, IDLE, 3, 3)
    assert push_schedule.safety_interval(account, five, now) > dt.timedelta(minutes=179)
    watch(account, FAILING, 3, 2)
    assert push_schedule.safety_interval(account, five, now) == five


def test_idle_connections_per_server_count_each_folder_s_connection(account):
    now = timezone.now()
    watch(account, IDLE, 3, 3)
    assert push_ops.idle_per_host(now) == [{"server": "imap.example.test", "n": 3}]
    # A failing folder's connection is not held; the others still are.
    watch(account, FAILING, 3, 2)
    assert push_ops.idle_per_host(now) == [{"server": "imap.example.test", "n": 2}]
    watch(account, IDLE, 2, 2)
    assert push_ops.summary(now)["partly"] == 1
