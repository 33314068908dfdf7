"""`fetch --all` runs accounts side by side (retrieval/fetch_many.py), within the limits."""

import gc
import io
import json
import os

import pytest
from django.core.management import call_command

from retrieval.models import GlobalSettings, Run
from tests.factories import local_messages, make_account

# Committed rows: the accounts run in child processes, which must see them.
# The test process has threads of its own (fixtures' servers) when it forks;
# the command run from a shell has none.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


def accounts_with_mail(dovecot, count, messages):
    accounts = []
    for _ in range(count):
        user = dovecot.add_user()
        dovecot.deliver_many(user[0], messages)
        accounts.append(make_account(dovecot, *user))
    return accounts


def fetch_all(*args):
    out = io.StringIO()
    call_command("fetch", "--all", "--json", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_accounts_run_in_child_processes_and_report_in_order(dovecot):
    accounts = accounts_with_mail(dovecot, 4, 6)

    results = fetch_all("--jobs", "4")

    assert [r["account"] for r in results] == sorted(a.pk for a in accounts)
    assert all((r["status"], r["delivered"], r["deleted"]) == ("ok", 6, 6) for r in results)
    for account in accounts:
        assert len(local_messages(account.owner)) == 6
        assert dovecot.messages(account.username) == []
    workers = {run.worker.rsplit(":", 1)[1] for run in Run.objects.all()}
    assert str(os.getpid()) not in workers
    assert len(workers) >= 2


def test_the_per_server_limit_keeps_sessions_on_one_server_apart(dovecot):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_sessions_per_host=1)
    accounts = accounts_with_mail(dovecot, 3, 4)

    results = fetch_all("--jobs", "3")

    assert [r["status"] for r in results] == ["ok"] * 3, results
    assert sum(r["delivered"] for r in results) == 12
    runs = sorted(Run.objects.filter(account__in=accounts), key=lambda r: r.started)
    for before, after in zip(runs, runs[1:], strict=False):
        assert before.finished <= after.started  # one server, one session at a time


def test_children_are_no_more_than_can_run_and_share_the_parents_tls_context(dovecot):
    from popadmin.net.tls import _cached_context

    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(max_sessions_per_host=1)
    accounts = accounts_with_mail(dovecot, 3, 2)
    _cached_context.cache_clear()

    results = fetch_all("--jobs", "3")

    assert sum(r["delivered"] for r in results) == 6
    # One server at one session at a time: one child ran them all.
    workers = {run.worker for run in Run.objects.filter(account__in=accounts)}
    assert len(workers) == 1, workers
    # The TLS context (the CA store) was built before the fork, for the children.
    assert _cached_context.cache_info().currsize == 1
    assert gc.get_freeze_count() == 0  # the parent's objects are collected again
