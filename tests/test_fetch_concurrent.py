"""`fetch --all` runs accounts side by side (retrieval/fetch_many.py), within the limits."""

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
