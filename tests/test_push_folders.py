"""Push on every folder an account fetches, on a server without NOTIFY: a real watcher and
worker on the real Dovecot (its NOTIFY left out of the capabilities).

An account that fetches INBOX and Archive holds one idle connection per
folder; a message APPENDed into Archive (the second folder) reaches the
local Maildir within seconds, with trigger "push", and the account polls
only as a safety check since both folders are watched. The connections
count as two on /metrics, and the watcher only EXAMINEs each folder.
"""

import datetime as dt
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from retrieval import push_schedule
from retrieval.models import PushWatch, RemoteAccount, Run
from retrieval.ops import push as push_ops
from tests.factories import local_messages, make_account
from tests.folder_helpers import (  # noqa: F401 (dovecot and mail_user without NOTIFY)
    append,
    create_folder,
    dovecot_without_notify,
    flags,
    mail_user_without_notify,
)
from tests.workers import CeleryProcess, WatchProcess, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WITHIN_SECONDS = 10
FOLDERS = ["INBOX", "Archive"]


def all_watched(account) -> bool:
    return PushWatch.objects.filter(account=account, state=PushWatch.State.IDLE,
                                    watcher__gt="", connections=2, connected=2).exists()


def delivered(account, subject) -> bool:
    return any(f"Subject: {subject}".encode() in m for m in local_messages(account.owner))


def test_mail_in_a_second_folder_is_fetched_within_seconds(dovecot, mail_user, tmp_path):
    create_folder(dovecot, *mail_user, "Archive")
    account = make_account(dovecot, *mail_user, protocol="imap", folders=FOLDERS)
    env = process_env(POPADMIN_WATCH_LEASE_SECONDS=6)
    watcher = WatchProcess(tmp_path, env=env).start()
    worker = CeleryProcess("worker", tmp_path, env=env, queues=("interactive", "celery")).start()
    try:
        wait_for(lambda: all_watched(account), timeout=30, what="both folders to be watched")
        # NOTIFY was asked for and found missing: one connection per folder.
        assert PushWatch.objects.get(account=account).notify_supported is False
        # Both connections count against the server's idle connections.
        assert push_ops.idle_per_host(timezone.now()) == [{"server": "localhost", "n": 2}]
        sent = time.monotonic()
        append(dovecot, *mail_user, "Archive", "second-folder-1")
        wait_for(lambda: delivered(account, "second-folder-1"), timeout=WITHIN_SECONDS,
                 interval=0.05, what="the message from Archive in the local Maildir")
        took = time.monotonic() - sent
        # And INBOX still pushes on its own connection.
        append(dovecot, *mail_user, "INBOX", "first-folder-1")
        wait_for(lambda: delivered(account, "first-folder-1"), timeout=WITHIN_SECONDS,
                 interval=0.05, what="the message from INBOX in the local Maildir")
        # With every folder watched, scheduled polling is only a safety check.
        account = RemoteAccount.objects.get(pk=account.pk)
        assert push_schedule.safety_interval(account, dt.timedelta(minutes=5), timezone.now()) \
            >= dt.timedelta(minutes=179)
    finally:
        worker.stop()
        watcher.stop()
    assert took < WITHIN_SECONDS
    assert Run.objects.filter(account=account, trigger=Run.Trigger.PUSH).exists()


def test_the_watcher_only_examines_each_folder(dovecot, mail_user, tmp_path):
    create_folder(dovecot, *mail_user, "Archive")
    account = make_account(dovecot, *mail_user, protocol="imap", folders=FOLDERS,
                           keep_policy=RemoteAccount.Keep.DELETE)
    watcher = WatchProcess(tmp_path, env=process_env(POPADMIN_WATCH_LEASE_SECONDS=6)).start()
    try:
        wait_for(lambda: all_watched(account), timeout=30, what="both folders to be watched")
        append(dovecot, *mail_user, "Archive", "stays-in-archive")
        wait_for(lambda: RemoteAccount.objects.get(pk=account.pk).pending_trigger == "push",
                 timeout=WITHIN_SECONDS, what="the push to be queued")
        time.sleep(1)
    finally:
        watcher.stop()
    # No worker ran: the message is still in Archive, unread and not deleted.
    data = flags(dovecot, *mail_user, "Archive")
    assert len(data) == 1
    assert b"\\Seen" not in data[0] and b"\\Deleted" not in data[0]
    assert local_messages(account.owner) == []


def test_the_dashboard_counts_each_folder_s_connection(admin_client, dovecot, mail_user,
                                                       tmp_path):
    create_folder(dovecot, *mail_user, "Archive")
    account = make_account(dovecot, *mail_user, protocol="imap", folders=FOLDERS)
    watcher = WatchProcess(tmp_path, env=process_env(POPADMIN_WATCH_LEASE_SECONDS=6)).start()
    try:
        wait_for(lambda: all_watched(account), timeout=30, what="both folders to be watched")
        html = admin_client.get(reverse("dashboard")).content.decode()
        metrics = admin_client.get(reverse("metrics")).content.decode()
    finally:
        watcher.stop()
    assert "1 account watched by 1 watcher: 1 idle" in html
    assert "<td>localhost</td><td>2</td><td>2000</td>" in html
    assert 'popadmin_idle_connections{server="localhost"} 2.0' in metrics
