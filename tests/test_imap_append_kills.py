"""Real workers killed (SIGKILL) while they append into a second Dovecot: every
message ends in the destination exactly once and the source is emptied.

As in test_crash_consistency.py the Message-ID duplicate check is off, so
exactly-once rests on the seen-state and on the APPEND backend finding the
copy an interrupted session stored (its X-Popadmin-Token)."""

import random
import time
from collections import Counter

import pytest
from django.utils import timezone

from retrieval.models import GlobalSettings, RemoteAccount, Run
from retrieval.status import reap_stale_runs
from retrieval.tasks import fetch_account
from tests.append_helpers import imap_target
from tests.factories import make_account
from tests.test_crash_consistency import message_ids
from tests.workers import CeleryProcess, process_env, wait_for

MESSAGES = 40
KILLS = 3


def lease_free(account) -> bool:
    row = RemoteAccount.objects.values("lease_token", "lease_expires").get(pk=account.pk)
    return row["lease_token"] is None or row["lease_expires"] < timezone.now()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_every_message_is_appended_exactly_once_across_worker_kills(
    dovecot, mail_user, append_dovecot, tmp_path
):
    seed = random.SystemRandom().randrange(2**32)
    print(f"imap append kill seed {seed}")
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        messages_per_download=10, duplicate_check=False, timeout_seconds=2,
        connection_retries=1, retry_seconds=0,
    )
    user, password = append_dovecot.add_user()
    dovecot.deliver_many(mail_user[0], MESSAGES)
    expected = sorted(message_ids(dovecot.messages(mail_user[0])))
    account = make_account(dovecot, *mail_user, protocol="imap",
                           delivery_target=imap_target(append_dovecot, user, password),
                           folder_map={"INBOX": "Old ISP"})
    env = process_env(POPADMIN_LEASE_SECONDS=3)
    rng = random.Random(seed)

    def stored():
        return len(append_dovecot.messages(user, "Old ISP"))

    def start_worker(name):
        worker = CeleryProcess("worker", tmp_path, name=name, env=env, concurrency=1).start()
        wait_for(lambda: lease_free(account), timeout=30, interval=0.1, what="the lease to expire")
        reap_stale_runs()
        return worker

    killed = 0
    for round_ in range(KILLS):
        before = stored()
        if before == MESSAGES:
            break
        worker = start_worker(f"append{round_}")
        try:
            fetch_account.delay(account.pk, Run.Trigger.MANUAL)
            wait_for(lambda b=before: stored() > b, timeout=30, interval=0.005,
                     what="the session to append something")
            time.sleep(rng.uniform(0, 0.1))
        finally:
            worker.kill()
        killed += Run.objects.filter(account=account).first().status == Run.Status.RUNNING

    worker = start_worker("final")
    try:
        last = Run.objects.filter(account=account).values_list("pk", flat=True).first() or 0
        fetch_account.delay(account.pk, Run.Trigger.MANUAL)
        final = wait_for(
            lambda: Run.objects.filter(account=account, pk__gt=last)
            .exclude(status=Run.Status.RUNNING).first(),
            timeout=60, what="a session that runs to completion",
        )
    finally:
        worker.stop()

    delivered = Counter(message_ids(append_dovecot.messages(user, "Old ISP")))
    twice = {mid: n for mid, n in delivered.items() if n > 1}
    assert not twice, f"seed {seed}: appended more than once: {twice}"
    assert sorted(delivered) == expected, f"seed {seed}: missing {set(expected) - set(delivered)}"
    assert dovecot.messages(mail_user[0]) == [], f"seed {seed}: mail left on the source"
    assert final.status == Run.Status.OK, final.error
    assert killed >= 1, f"seed {seed}: no session was killed mid-run"
    caught = sum("interrupted session" in n for r in Run.objects.filter(account=account)
                 for n in r.notes)
    print(f"seed {seed}: {killed} sessions killed; {caught} appended-but-unrecorded caught")
