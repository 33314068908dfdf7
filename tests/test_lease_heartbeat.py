"""A session whose single message takes longer than the lease keeps the
account (invariant "One session per account"): its heartbeat renews the lease while the message is
in transfer, and its lock refuses a second session all the while.

A real worker runs the session against a fake POP3 server that drips one
message over several lease lengths; the test meanwhile tries to start a
second session, again and again.
"""

import time

import pytest
from django.utils import timezone

from retrieval import admission
from retrieval.models import GlobalSettings, RemoteAccount, Run
from retrieval.tasks import fetch_account
from tests.factories import local_messages, make_mailbox
from tests.fakeserver import FakeServer, Pop3Mailbox, stuff
from tests.workers import CeleryProcess, process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# The worker's lease: max(1, timeout 1 s * 4 + 1 attempt * 0 s) = 4 s (engine.run_account).
LEASE = 4
DRIP_SECONDS = 3 * LEASE
CHUNKS = 60

MESSAGE = (
    b"From: sender@example.test\r\nTo: slow@example.test\r\nSubject: slow\r\n"
    b"Message-ID: <slow-one@popadmin.test>\r\n\r\n" + b"a line of a slow message\r\n" * 5000
)


def dripping_retr(conn, arg, state):
    """The answer to RETR in CHUNKS pieces over DRIP_SECONDS: slow, never stalled."""
    data = b"+OK\r\n" + stuff(MESSAGE)
    size = -(-len(data) // CHUNKS)
    for start in range(0, len(data), size):
        conn.send(data[start : start + size])
        if not conn.sleep(DRIP_SECONDS / CHUNKS):
            return "hangup"


@pytest.mark.timeout(120)
def test_it_keeps_the_account_while_one_message_outlasts_the_lease(tmp_path):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        timeout_seconds=1, connection_retries=1, retry_seconds=0
    )
    box = Pop3Mailbox([MESSAGE], uidls=["slow-1"], overrides={"RETR": dripping_retr})
    with FakeServer(box) as server:
        account = RemoteAccount(owner=make_mailbox(), host="127.0.0.1", port=server.port,
                                security="none", username="alice", keep_policy="keep")
        account.set_password("secret")
        account.save()
        worker = CeleryProcess("worker", tmp_path, env=process_env(POPADMIN_LEASE_SECONDS=1),
                               concurrency=1).start()
        try:
            fetch_account.delay(account.pk, Run.Trigger.MANUAL)
            wait_for(lambda: b"RETR" in server.commands(), timeout=30, interval=0.05,
                     what="the session to ask for the message")
            began = time.monotonic()
            attempts = 0
            while Run.objects.filter(account=account, status=Run.Status.RUNNING).exists():
                row = RemoteAccount.objects.get(pk=account.pk)
                if row.lease_token is None:
                    break  # the session just ended
                # Renewed while the message drips, so it never looks like a dead worker's.
                assert row.lease_expires > timezone.now(), "the lease ran out mid-message"
                assert admission.admit(row, 60, Run.Trigger.MANUAL).reason == admission.BUSY
                attempts += 1
                time.sleep(0.5)
            transfer = time.monotonic() - began
        finally:
            worker.stop()

    runs = list(Run.objects.filter(account=account))
    assert len(runs) == 1, [(r.status, r.error) for r in runs]
    assert runs[0].status == Run.Status.OK, runs[0].error
    assert runs[0].delivered == 1
    assert transfer > 2 * LEASE and attempts >= 2 * LEASE  # the test really outlasted it
    stored = local_messages(account.owner)
    assert len(stored) == 1 and stored[0].endswith(MESSAGE.replace(b"\r\n", b"\n"))
    print(f"\none message in transfer for {transfer:.1f} s with a {LEASE} s lease; "
          f"{attempts} second sessions refused")
