"""The tick's pick under a per-server limit: each server's longest-waiting free
accounts, all servers together in waiting order, requests first. On PostgreSQL
the tick reads them per server (retrieval/due_scan.py), on SQLite by walking the
due list; both must pick exactly this."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval.models import AccountClaim
from tests.test_dispatcher import configure, hold, make_account

pytestmark = pytest.mark.django_db


def minutes_ago(n):
    return -dt.timedelta(minutes=n)


def test_each_server_gives_its_longest_waiting_free_accounts_in_waiting_order(dispatch):
    configure(max_concurrent_downloads=100, max_sessions_per_host=2)
    a = {n: make_account(host="pop.a.example", next_check=minutes_ago(n)) for n in (50, 40, 30)}
    hold(a[50])  # running: one slot of two left on this server
    b = [make_account(host=host, next_check=minutes_ago(n))
         for host, n in (("POP.B.example", 45), ("pop.b.example", 35), ("Pop.B.Example", 25))]
    c_due = make_account(host="pop.c.example", next_check=minutes_ago(5))
    make_account(host="pop.c.example", next_check=dt.timedelta(minutes=5))  # not due yet
    make_account(host="pop.c.example", next_check=minutes_ago(60), enabled=False)
    claimed = make_account(host="pop.d.example", next_check=minutes_ago(55))
    # Queued: counts, not again.
    AccountClaim.objects.create(account=claimed, until=timezone.now() + dt.timedelta(minutes=5))
    d = make_account(host="pop.d.example", next_check=minutes_ago(20))
    make_account(host="pop.d.example", next_check=minutes_ago(15))
    asked = make_account(host="pop.d.example", next_check=minutes_ago(1),
                         pending_trigger="manual")

    sent = dispatch()

    assert sent == [(asked.pk, "manual")] + [
        (account.pk, "schedule") for account in (b[0], a[40], b[1], c_due)
    ]
    assert d.pk not in [pk for pk, _ in sent]  # its server: one queued, one asked for


def test_the_cap_takes_the_longest_waiting_across_servers(dispatch):
    configure(max_concurrent_downloads=3, max_sessions_per_host=1)
    waits = {"pop.x.example": (30, 10), "pop.y.example": (25, 5), "pop.z.example": (20,)}
    accounts = {(host, n): make_account(host=host, next_check=minutes_ago(n))
                for host, ns in waits.items() for n in ns}
    hold(make_account(host="pop.w.example", next_check=minutes_ago(90)))  # a slot in use

    sent = [pk for pk, _ in dispatch()]

    assert sent == [accounts["pop.x.example", 30].pk, accounts["pop.y.example", 25].pk]


def test_a_server_full_of_running_sessions_gives_nothing_and_blocks_no_one(dispatch):
    configure(max_concurrent_downloads=50, max_sessions_per_host=1)
    busy = make_account(host="pop.busy.example", next_check=minutes_ago(5))
    hold(busy)
    for n in range(20):
        make_account(host="POP.BUSY.EXAMPLE", next_check=minutes_ago(100 + n))
    dead = make_account(host="pop.dead.example", next_check=minutes_ago(3))
    hold(dead, lease_seconds=-5)  # its worker died: due again, its slot free
    other = make_account(host="pop.other.example", next_check=minutes_ago(1))

    assert [pk for pk, _ in dispatch()] == [dead.pk, other.pk]
