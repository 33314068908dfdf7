"""Push on several folders over one connection, where the server offers NOTIFY (RFC 5465):
a real watcher and worker on the real Dovecot, which offers it.

The watcher opens no folder at all: it asks for a STATUS line whenever a
message comes into any of the account's folders, and idles. A message
APPENDed into the second folder reaches the local Maildir within seconds;
the account holds one idle connection whatever its number of folders, so a
per-server limit of one still covers them all.
"""

import datetime as dt
import time

import pytest
from django.utils import timezone

from retrieval import dispatcher, push_schedule
from retrieval.models import PushWatch, RemoteAccount, Run
from retrieval.ops import push as push_ops
from retrieval.protocols.imap_notify import status_of
from tests.factories import local_messages, make_account
from tests.folder_helpers import (  # noqa: F401 (dovecot and mail_user, with NOTIFY)
    append,
    create_folder,
    dovecot_with_notify,
    flags,
    mail_user_with_notify,
)
from tests.watching import watcher_running
from tests.workers import CeleryProcess, WatchProcess, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WITHIN_SECONDS = 10
# A name with a space: quoted on the wire, and in the STATUS lines.
FOLDERS = ["INBOX", "Archive", "My Lists"]


def one_connection(account) -> bool:
    return PushWatch.objects.filter(
        account=account, state=PushWatch.State.IDLE, watcher__gt="", notify_supported=True,
        connections=1, connected=1).exists()


def delivered(account, subject) -> bool:
    return any(f"Subject: {subject}".encode() in m for m in local_messages(account.owner))


def folders_account(dovecot, mail_user, **fields):
    create_folder(dovecot, *mail_user, "Archive")
    create_folder(dovecot, *mail_user, "My Lists")
    return make_account(dovecot, *mail_user, protocol="imap", folders=FOLDERS, **fields)


def test_mail_in_any_folder_is_fetched_within_seconds_over_one_connection(
        dovecot, mail_user, tmp_path):
    account = folders_account(dovecot, mail_user)
    env = process_env(POPADMIN_WATCH_LEASE_SECONDS=6)
    watcher = WatchProcess(tmp_path, env=env).start()
    worker = CeleryProcess("worker", tmp_path, env=env, queues=("interactive", "celery")).start()
    try:
        wait_for(lambda: one_connection(account), timeout=30, what="one NOTIFY connection")
        assert push_ops.idle_per_host(timezone.now()) == [{"server": "localhost", "n": 1}]
        took = []
        for number, folder in enumerate(("Archive", "My Lists", "INBOX")):
            subject = f"in-folder-{number}"
            sent = time.monotonic()
            append(dovecot, *mail_user, folder, subject)
            wait_for(lambda s=subject: delivered(account, s), timeout=WITHIN_SECONDS,
                     interval=0.05, what=f"the message from {folder} in the local Maildir")
            took.append(time.monotonic() - sent)
        account = RemoteAccount.objects.get(pk=account.pk)
        assert push_schedule.safety_interval(account, dt.timedelta(minutes=5), timezone.now()) \
            >= dt.timedelta(minutes=179)
    finally:
        worker.stop()
        watcher.stop()
    assert max(took) < WITHIN_SECONDS
    assert Run.objects.filter(account=account, trigger=Run.Trigger.PUSH).exists()


def test_a_limit_of_one_connection_still_covers_every_folder(
        dovecot, mail_user, settings, monkeypatch):
    settings.POPADMIN_IDLE_PER_SERVER = 1
    sent = []
    monkeypatch.setattr(dispatcher, "enqueue_fetch",
                        lambda pk, trigger, task_id=None: sent.append((pk, trigger)))
    account = folders_account(dovecot, mail_user, keep_policy=RemoteAccount.Keep.DELETE)
    with watcher_running():
        wait_for(lambda: one_connection(account), timeout=30, what="one NOTIFY connection")
        append(dovecot, *mail_user, "My Lists", "on-one-connection")
        wait_for(lambda: sent, timeout=WITHIN_SECONDS, what="the push from My Lists")
        time.sleep(1)
    assert sent == [(account.pk, "push")]
    # The watcher opened no folder: the message is there, unread, not deleted.
    found = flags(dovecot, *mail_user, "My Lists")
    assert len(found) == 1
    assert b"\\Seen" not in found[0] and b"\\Deleted" not in found[0]


def test_status_lines_are_read_with_quoted_and_encoded_names():
    assert status_of(b"* STATUS Archive (MESSAGES 1 UIDNEXT 2)") == (
        b"Archive", {"MESSAGES": 1, "UIDNEXT": 2})
    assert status_of(b'* STATUS "Lists/Dev \\"x\\"" (UIDNEXT 9 UIDVALIDITY 3)') == (
        b'Lists/Dev "x"', {"UIDNEXT": 9, "UIDVALIDITY": 3})
    assert status_of(b"* STATUS inbox (UIDNEXT 4)") == (b"INBOX", {"UIDNEXT": 4})
    assert status_of(b"* STATUS {5}") is None


def test_a_folder_notify_does_not_report_gets_a_connection_of_its_own(
        dovecot, mail_user, settings, monkeypatch):
    # Dovecot 2.3 gives no STATUS for a non-ASCII (modified UTF-7) name in a NOTIFY
    # filter, so it would never report mail there: one connection per folder instead.
    sent = []
    monkeypatch.setattr(dispatcher, "enqueue_fetch",
                        lambda pk, trigger, task_id=None: sent.append((pk, trigger)))
    create_folder(dovecot, *mail_user, "Listes été")
    account = make_account(dovecot, *mail_user, protocol="imap", folders=["INBOX", "Listes été"])
    with watcher_running():
        wait_for(lambda: PushWatch.objects.filter(
            account=account, state=PushWatch.State.IDLE, notify_supported=False,
            connections=2, connected=2).exists(), timeout=30, what="a connection per folder")
        append(dovecot, *mail_user, "Listes été", "accented")
        wait_for(lambda: sent, timeout=WITHIN_SECONDS, what="the push from Listes été")
    assert sent == [(account.pk, "push")]
