"""Push end to end: a real watcher (`manage.py watch`) on the real Dovecot, a real worker.

A message delivered through Dovecot's LMTP into a watched account reaches the
local Maildir within seconds, fetched by the worker with trigger "push"; the
watcher itself never takes, flags or deletes mail: with no worker running,
a pushed message stays on the server, unflagged, until a worker fetches it.
"""

import smtplib
import time

import pytest

from retrieval.models import PushWatch, RemoteAccount, Run
from tests.factories import local_messages, make_account
from tests.workers import CeleryProcess, WatchProcess, process_env, start_together, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WITHIN_SECONDS = 10


def lmtp_deliver(dovecot, user: str, subject: str) -> None:
    message = (f"From: sender@example.test\r\nTo: {user}@example.test\r\n"
               f"Subject: {subject}\r\nMessage-ID: <{subject}@push.test>\r\n\r\nhello\r\n")
    lmtp = smtplib.LMTP(dovecot.host, dovecot.lmtp_port, timeout=10)
    try:
        assert lmtp.sendmail("sender@example.test", [user], message.encode()) == {}
    finally:
        lmtp.quit()


def watching(account) -> bool:
    return PushWatch.objects.filter(
        account=account, state=PushWatch.State.IDLE, watcher__gt="").exists()


def test_new_mail_reaches_the_maildir_within_seconds(dovecot, mail_user, tmp_path):
    account = make_account(dovecot, *mail_user, protocol="imap")
    env = process_env(POPADMIN_WATCH_LEASE_SECONDS=6)
    watcher, worker = start_together(
        WatchProcess(tmp_path, env=env),
        CeleryProcess("worker", tmp_path, env=env, queues=("interactive", "celery")))
    try:
        wait_for(lambda: watching(account), timeout=30, what="the account to be watched")
        sent = time.monotonic()
        lmtp_deliver(dovecot, mail_user[0], "pushed-1")
        wait_for(lambda: local_messages(account.owner), timeout=WITHIN_SECONDS, interval=0.05,
                 what="the pushed message in the local Maildir")
        took = time.monotonic() - sent
    finally:
        worker.stop()
        watcher.stop()
    assert b"Subject: pushed-1" in local_messages(account.owner)[0]
    assert Run.objects.filter(account=account, trigger=Run.Trigger.PUSH).exists()
    assert took < WITHIN_SECONDS
    # The watcher let go of its account when it stopped: scheduled polling is due again.
    assert PushWatch.objects.get(account=account).watcher == ""


def test_the_watcher_never_takes_flags_or_deletes_mail(dovecot, mail_user, tmp_path):
    account = make_account(dovecot, *mail_user, protocol="imap",
                           keep_policy=RemoteAccount.Keep.DELETE)
    watcher = WatchProcess(tmp_path, env=process_env(POPADMIN_WATCH_LEASE_SECONDS=6)).start()
    try:
        wait_for(lambda: watching(account), timeout=30, what="the account to be watched")
        lmtp_deliver(dovecot, mail_user[0], "stays-1")
        # The push is handed to the dispatcher (a queued claim) ...
        wait_for(lambda: RemoteAccount.objects.get(pk=account.pk).pending_trigger == "push",
                 timeout=WITHIN_SECONDS, what="the push to be queued")
        time.sleep(1)
    finally:
        watcher.stop()
    # ... and with no worker running, nothing left the server or changed its flags.
    box = dovecot.maildir(mail_user[0])
    files = [p for sub in ("new", "cur") for p in (box / sub).iterdir()]
    assert len(files) == 1
    assert ":2," not in files[0].name or "S" not in files[0].name.split(":2,")[1]
    assert local_messages(account.owner) == []
    assert not Run.objects.filter(account=account).exists()

    # The worker fetches it, and only the worker deletes it (keep policy "delete").
    worker = CeleryProcess("worker", tmp_path, name="w2",
                           queues=("interactive", "celery")).start()
    try:
        wait_for(lambda: local_messages(account.owner), timeout=30, what="the fetch")
        wait_for(lambda: not dovecot.messages(mail_user[0]), timeout=30,
                 what="the worker's deletion")
    finally:
        worker.stop()
