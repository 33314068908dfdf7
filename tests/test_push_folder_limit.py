"""The per-server limit of idle connections counts one per folder. An account that fetches
more folders than the limit leaves room for is watched on its first folders only: the
others are found by its usual polls (no safety-check interval), and its card says which
folders push covers and why not the others. When room frees up, the watcher adds them."""

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from retrieval import dispatcher, push_schedule
from retrieval.models import PushWatch, RemoteAccount
from retrieval.watch import leases
from tests.factories import make_account, make_mailbox
from tests.folder_helpers import (  # noqa: F401 (dovecot and mail_user without NOTIFY)
    append,
    create_folder,
    dovecot_without_notify,
    mail_user_without_notify,
)
from tests.watching import watcher_running
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FIVE_MINUTES = 5 * 60
FOLDERS = ["INBOX", "Archive"]


def folders_account(dovecot, owner=None, folders=FOLDERS):
    user, password = dovecot.add_user()
    create_folder(dovecot, user, password, "Archive")
    return make_account(dovecot, user, password, owner=owner, protocol="imap",
                        folders=folders, poll_minutes=5), (user, password)


def connections(account) -> int:
    return PushWatch.objects.get(account=account).connections


def test_a_claim_takes_the_first_folders_within_the_limit_and_fit_adds_the_others(dovecot):
    first, _ = folders_account(dovecot)
    second, _ = folders_account(dovecot)
    leases.register("w")
    assert leases.claim("w", 10, per_server=3) == [first.pk, second.pk]
    assert (connections(first), connections(second)) == (2, 1)
    assert leases.fit("w", per_server=3) == 0
    # Another watcher finds no room left on the server.
    third, _ = folders_account(dovecot)
    leases.register("v")
    assert leases.claim("v", 10, per_server=3) == []
    assert PushWatch.objects.get(account=third).state == PushWatch.State.LIMIT
    # Room again: the partly watched account gets its second folder.
    leases.release("w", [first.pk])
    assert leases.fit("w", per_server=3) == 1
    assert connections(second) == 2
    # Fewer folders after an edit: one connection fewer.
    RemoteAccount.objects.filter(pk=second.pk).update(folders=["INBOX"])
    assert leases.fit("w", per_server=3) == 1
    assert connections(second) == 1


def card(client) -> str:
    response = client.get(reverse("mail-accounts"))
    assert response.status_code == 200
    return response.content.decode()


def test_over_the_limit_the_unwatched_folder_keeps_the_usual_polls_and_the_card_says_so(
        dovecot, settings, client, monkeypatch):
    settings.POPADMIN_IDLE_PER_SERVER = 1
    sent = []
    monkeypatch.setattr(dispatcher, "enqueue_fetch",
                        lambda pk, trigger, task_id=None: sent.append((pk, trigger)))
    user = get_user_model().objects.create_user("partly", password="pw-Partly-1")
    client.force_login(user)
    account, login = folders_account(dovecot, owner=make_mailbox(user=user))
    with watcher_running():
        wait_for(lambda: PushWatch.objects.filter(
            account=account, state=PushWatch.State.IDLE, connections=1, connected=1).exists(),
            timeout=30, what="INBOX to be watched")
        html = card(client)
        assert ("push: new mail in INBOX arrives within seconds; Archive: not watched, the "
                "server&#x27;s limit of idle connections is reached; new mail there arrives "
                "at the next check") in html
        account = RemoteAccount.objects.get(pk=account.pk)
        interval = push_schedule.safety_interval(
            account, dt.timedelta(seconds=FIVE_MINUTES), timezone.now())
        assert interval.total_seconds() == FIVE_MINUTES
        # Mail in the unwatched folder waits for the poll; INBOX still pushes.
        append(dovecot, *login, "Archive", "waits-for-the-poll")
        time.sleep(3)
        assert sent == []
        append(dovecot, *login, "INBOX", "pushed")
        wait_for(lambda: sent, timeout=10, what="the push from INBOX")
    assert sent == [(account.pk, "push")]
