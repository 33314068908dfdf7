"""Several watchers share the accounts: each account watched by exactly one, a dead
watcher's accounts taken over once its leases run out (retrieval/watch/leases.py)."""

import datetime as dt
import signal

import pytest
from django.utils import timezone

from accounts.models import GroupPolicy
from retrieval.models import PushWatch, PushWatcher, RemoteAccount
from retrieval.watch import leases
from tests.factories import make_account, make_mailbox
from tests.workers import WatchProcess, process_env, start_together, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def accounts(dovecot, n, **fields):
    made = []
    for _ in range(n):
        user, password = dovecot.add_user()
        made.append(make_account(dovecot, user, password, protocol="imap", **fields))
    return made


def holders() -> dict[int, str]:
    now = timezone.now()
    return dict(PushWatch.objects.filter(until__gte=now).exclude(watcher="")
                .values_list("account_id", "watcher"))


def test_two_watchers_claim_disjoint_shares(dovecot):
    made = accounts(dovecot, 6)
    leases.register("a")
    leases.register("b")
    assert leases.fair_share("a") == 3
    first = leases.claim("a", leases.fair_share("a"))
    second = leases.claim("b", 10)
    assert len(first) == 3
    assert len(second) == 3
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == {a.pk for a in made}
    # Renewing keeps only one's own.
    assert set(leases.renew("a")) == set(first)


def test_an_expired_lease_is_taken_over(dovecot):
    accounts(dovecot, 2)
    leases.register("dead")
    taken = leases.claim("dead", 2)
    PushWatch.objects.filter(account_id__in=taken).update(
        until=timezone.now() - dt.timedelta(seconds=1), state=PushWatch.State.IDLE)
    leases.register("alive")
    assert sorted(leases.claim("alive", 2)) == sorted(taken)
    # The dead one, back from a pause, holds nothing any more.
    assert set(leases.renew("dead")) == set()


def test_push_off_on_the_account_or_in_a_group_is_not_watched(dovecot):
    on, off = accounts(dovecot, 2)
    RemoteAccount.objects.filter(pk=off.pk).update(push=False)
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("nopush")
    group = Group.objects.create(name="no push")
    GroupPolicy.objects.create(group=group, allow_push=False)
    user.groups.add(group)
    grouped = accounts(dovecot, 1, owner=make_mailbox(user=user))[0]
    pop3 = make_account(dovecot, *dovecot.add_user())
    leases.register("w")
    assert leases.claim("w", 10) == [on.pk]
    assert set(leases.eligible().values_list("pk", flat=True)).isdisjoint(
        {off.pk, grouped.pk, pop3.pk})
    # Switched off while watched: let go at the next renewal.
    RemoteAccount.objects.filter(pk=on.pk).update(push=False)
    assert set(leases.renew("w")) == set()


def test_the_per_server_limit_of_idle_connections_holds(dovecot):
    first, second = accounts(dovecot, 2)
    leases.register("w")
    assert leases.claim("w", 10, per_server=1) == [first.pk]
    assert PushWatch.objects.get(account=second).state == PushWatch.State.LIMIT
    leases.register("v")
    assert leases.claim("v", 10, per_server=1) == []


def test_a_killed_watcher_s_accounts_are_taken_over_within_a_minute(dovecot, tmp_path):
    made = accounts(dovecot, 6)
    # The default lease (30 s): the takeover must not wait it out, since the killed
    # watcher's lock went with its process.
    env = process_env()
    one, two = start_together(WatchProcess(tmp_path, name="one", env=env),
                              WatchProcess(tmp_path, name="two", env=env))
    try:
        def shared():
            held = holders()
            return len(held) == 6 and set(held.values()) == {"one", "two"} and (
                PushWatch.objects.filter(state=PushWatch.State.IDLE).count() == 6)

        wait_for(shared, timeout=60, what="both watchers to share the accounts")
        # Exactly one watcher per account, each with its fair share.
        assert sorted(list(holders().values()).count(n) for n in ("one", "two")) == [3, 3]
        one.kill(signal.SIGKILL)
        killed = timezone.now()
        wait_for(lambda: set(holders().values()) == {"two"} and len(holders()) == 6
                 and PushWatch.objects.filter(state=PushWatch.State.IDLE).count() == 6,
                 timeout=60, what="the second watcher to take over")
        took = (timezone.now() - killed).total_seconds()
    finally:
        one.stop()
        two.stop()
    assert took < 25
    assert PushWatcher.objects.get(name="two").stopped is not None
    assert {a.pk for a in made} == set(PushWatch.objects.values_list("account_id", flat=True))
