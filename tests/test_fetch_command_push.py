"""`manage.py fetch` serves a push that arrives while its session runs, as a worker does:
the command runs exactly one more session, which fetches the pushed mail, and a push
during that one goes to the dispatcher; the command never loops.

The first test plays it end to end on Dovecot: a real watcher, the command in a process
of its own, no worker, a message delivered through LMTP while the command fetches.
"""

import io
import json
import signal
import subprocess
import sys

import pytest
from django.core.management import call_command

from retrieval import dispatcher, engine, push
from retrieval.models import AccountClaim, PushWatch, RemoteAccount, Run
from tests.factories import local_messages, make_account
from tests.test_push_dirty import account_with_a_long_session, lmtp_deliver, sessions_counted
from tests.workers import ROOT, WatchProcess, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_mail_pushed_during_a_command_fetch_is_fetched_by_the_command_once_more(
        dovecot, mail_user, tmp_path):
    user = mail_user[0]
    account = account_with_a_long_session(dovecot, mail_user)
    env = process_env(POPADMIN_WATCH_LEASE_SECONDS=6)
    watcher = WatchProcess(tmp_path, env=env).start()
    command = None
    try:
        wait_for(lambda: PushWatch.objects.filter(account=account, state="idle").exists(),
                 timeout=30, what="the account to be watched")
        command = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "fetch", "--account", str(account.pk),
             "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: Run.objects.filter(account=account, status="running", delivered__gt=0)
                 .exists(), timeout=30, interval=0.02, what="the command's session to deliver")
        # Held still (past its listing) until the watcher has seen the late message, so the
        # push lands during the session however loaded the machine is.
        command.send_signal(signal.SIGSTOP)
        try:
            lmtp_deliver(dovecot, user, "late-1")
            wait_for(lambda: RemoteAccount.objects.filter(pk=account.pk, push_dirty=True)
                     .exists(), timeout=60, what="the push to mark the running account")
        finally:
            command.send_signal(signal.SIGCONT)
        out, err = command.communicate(timeout=90)
    finally:
        if command is not None and command.poll() is None:
            command.kill()
            command.wait()
        watcher.stop()
    assert command.returncode == 0, err.decode()[-3000:]
    [line] = out.decode().splitlines()
    result = json.loads(line)
    assert (result["status"], result["delivered"]) == ("ok", 150)
    again = result["again"]
    assert (again["status"], again["delivered"]) == ("ok", 1)
    assert "again" not in again
    assert Run.objects.get(pk=again["run"]).trigger == Run.Trigger.PUSH
    assert any(b"Subject: late-1" in m for m in local_messages(account.owner))
    assert len(local_messages(account.owner)) == 151
    # Exactly one more session, and nothing left for a worker.
    assert sessions_counted() == 2
    row = RemoteAccount.objects.get(pk=account.pk)
    assert not row.push_dirty and row.lease_token is None and not row.pending_trigger
    assert not AccountClaim.objects.filter(account=account).exists()


@pytest.fixture
def sent(monkeypatch):
    """The fetch tasks handed to the workers, as (account id, trigger)."""
    published = []
    monkeypatch.setattr(dispatcher, "enqueue_fetch",
                        lambda pk, trigger, task_id=None: published.append((pk, trigger)))
    return published


def test_a_push_during_every_session_costs_one_more_and_then_goes_to_the_dispatcher(
        dovecot, mail_user, sent, monkeypatch):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user, protocol="imap")
    session = engine._session

    def pushed_meanwhile(*args, **kwargs):
        # New mail reported while the session holds the account: it is marked.
        assert push.notify(account.pk) == push.DIRTY
        return session(*args, **kwargs)

    monkeypatch.setattr(engine, "_session", pushed_meanwhile)
    out = io.StringIO()
    call_command("fetch", "--account", str(account.pk), stdout=out)
    first, again = out.getvalue().splitlines()
    assert first.startswith(f"account {account.pk}: ok (seen 2, fetched 2")
    assert again.startswith(f"account {account.pk}, once more for mail pushed meanwhile: ok")
    assert Run.objects.filter(account=account).count() == 1  # the empty push session is not kept
    # The push during the second session is the dispatcher's, as after a worker's session.
    assert sent == [(account.pk, "push")]
    assert AccountClaim.objects.filter(account=account).exists()
    assert not RemoteAccount.objects.get(pk=account.pk).push_dirty


def test_a_command_fetch_without_a_push_runs_once(dovecot, mail_user, sent):
    account = make_account(dovecot, *mail_user, protocol="imap")
    out = io.StringIO()
    call_command("fetch", "--account", str(account.pk), "--json", stdout=out)
    [line] = out.getvalue().splitlines()
    assert "again" not in json.loads(line)
    assert sent == []
