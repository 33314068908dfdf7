"""A SIGKILLed worker's account is taken again within seconds, not after its
lease (invariant "One session per account"): the next dispatcher tick finds the session lock gone
with the process, ends the orphan run, and dispatches the account to the
surviving worker, which collects every message exactly once.

The lease is an hour here, so only the lock can free the account in time.
"""

import re
import time
from collections import Counter

import pytest

from retrieval.models import GlobalSettings, Run
from tests.factories import local_messages, make_account
from tests.workers import CeleryProcess, process_env, start_together, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

MESSAGES = 80
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)$", re.MULTILINE | re.IGNORECASE)
RECEIVED = "Task retrieval.tasks.fetch_account["


def message_ids(messages) -> list[bytes]:
    return [MESSAGE_ID.search(m).group(1) for m in messages]


@pytest.mark.timeout(180)
def test_it_takes_a_killed_workers_account_again_within_seconds(dovecot, mail_user, tmp_path):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(
        messages_per_download=10, duplicate_check=False, max_sessions_per_host=0,
        timeout_seconds=5, connection_retries=1, retry_seconds=0,
    )
    dovecot.deliver_many(mail_user[0], MESSAGES, size=20_000)
    expected = sorted(message_ids(dovecot.messages(mail_user[0])))
    account = make_account(dovecot, *mail_user)
    env = process_env(POPADMIN_CA_FILE=dovecot.ca_file, POPADMIN_LEASE_SECONDS=3600,
                      POPADMIN_CLAIM_HOLD_SECONDS=3600, POPADMIN_DISPATCH_SECONDS=1)
    procs = []
    overlaps = []

    def runs():
        running = Run.objects.filter(account=account, status=Run.Status.RUNNING).count()
        if running > 1:
            overlaps.append(running)
        return Run.objects.filter(account=account)

    try:
        procs.extend(start_together(
            *(CeleryProcess("worker", tmp_path, name=name, env=env, concurrency=1)
              for name in ("a", "b")),
            CeleryProcess("beat", tmp_path, env=env)))
        wait_for(lambda: runs().filter(status=Run.Status.RUNNING).exists()
                 and local_messages(account.owner), timeout=60, interval=0.01,
                 what="a session delivering")
        victim = next(p for p in procs if RECEIVED in p.log())
        victim.kill()
        killed_at = time.monotonic()
        killed = runs().get(status=Run.Status.RUNNING)
        assert len(local_messages(account.owner)) < MESSAGES, "the session ended before the kill"

        # Polled, not waited out: an hour-long lease would fail this.
        wait_for(lambda: runs().filter(pk__gt=killed.pk).exists(), timeout=20, interval=0.05,
                 what="another session of the account")
        taken_again = time.monotonic() - killed_at
        wait_for(lambda: len(local_messages(account.owner)) >= MESSAGES
                 and not dovecot.messages(mail_user[0])
                 and not runs().filter(status=Run.Status.RUNNING).exists(),
                 timeout=90, interval=0.25, what="every message collected")
    finally:
        for proc in procs:
            proc.stop()

    killed.refresh_from_db()
    assert killed.status == Run.Status.ERROR and "stopped unexpectedly" in killed.error
    delivered = Counter(message_ids(local_messages(account.owner)))
    assert [mid for mid, n in delivered.items() if n > 1] == []
    assert sorted(delivered) == expected
    assert overlaps == []  # never two sessions of the account at once
    last = runs().first()
    assert last.status == Run.Status.OK, last.error
    print(f"\naccount taken again {taken_again:.1f} s after SIGKILL (lease: 3600 s); "
          f"{MESSAGES} messages delivered once each")
