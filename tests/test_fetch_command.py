import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import local_messages, make_account

pytestmark = pytest.mark.django_db


def fetch(*args):
    out = io.StringIO()
    call_command("fetch", *args, stdout=out)
    return out.getvalue()


def test_it_fetches_one_account_and_prints_json(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user)

    [line] = fetch("--account", str(account.pk), "--json").splitlines()

    result = json.loads(line)
    assert result["account"] == account.pk and result["status"] == "ok"
    counts = [result[k] for k in ("seen", "fetched", "delivered", "deleted")]
    assert counts == [2, 2, 2, 2]
    assert len(local_messages(account.owner)) == 2


def test_it_fetches_all_enabled_accounts(dovecot):
    accounts = []
    for _ in range(2):
        user = dovecot.add_user()
        dovecot.deliver_many(user[0], 1)
        accounts.append(make_account(dovecot, *user))
    disabled = make_account(dovecot, *dovecot.add_user(), enabled=False)

    lines = fetch("--all", "--json").splitlines()

    assert sorted(json.loads(x)["account"] for x in lines) == sorted(a.pk for a in accounts)
    assert disabled.pk not in [json.loads(x)["account"] for x in lines]


def test_it_exits_non_zero_and_says_why_when_a_run_fails(dovecot, mail_user):
    account = make_account(dovecot, mail_user[0], "wrong")
    out = io.StringIO()

    with pytest.raises(CommandError) as failure:
        call_command("fetch", "--account", str(account.pk), stdout=out)

    assert failure.value.returncode == 1
    assert f"account {account.pk}: error" in out.getvalue()
    assert "login refused" in out.getvalue()


def test_it_reports_a_busy_account(dovecot, mail_user):
    account = make_account(dovecot, *mail_user)
    assert account.start_session(60, "manual")[0]  # a session in this process holds it
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("fetch", "--account", str(account.pk), "--json", stdout=out)

    assert json.loads(out.getvalue())["status"] == "busy"


def test_it_refuses_unknown_accounts_and_missing_arguments():
    with pytest.raises(CommandError, match="no such account: 999999"):
        fetch("--account", "999999")
    with pytest.raises(CommandError, match="--all"):
        fetch()
