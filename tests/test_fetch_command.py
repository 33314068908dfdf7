import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from retrieval import admission
from retrieval.management.commands.fetch import human, refusal
from retrieval.models import GlobalSettings, RemoteAccount
from tests.factories import local_messages, make_account, make_mailbox

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
    assert admission.admit(account, 60, "manual")  # a session in this process holds it
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("fetch", "--account", str(account.pk), "--json", stdout=out)

    assert json.loads(out.getvalue())["status"] == "busy"


# --- why an account did not run: each refusal has its status and its words -------


def configure(**fields):
    GlobalSettings.load()
    GlobalSettings.objects.filter(pk=1).update(**fields)


def offline_account(host="pop.example.test") -> RemoteAccount:
    # Never connected to: every one of these is refused before its session starts.
    return RemoteAccount.objects.create(owner=make_mailbox(), host=host, username="u")


def refused(account, *flags):
    """The command's output for an account that did not run; it exits 1."""
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("fetch", "--account", str(account.pk), *flags, stdout=out)
    assert failure.value.returncode == 1
    return out.getvalue()


def test_it_reports_the_service_stopped():
    account = offline_account()
    configure(service_running=False)

    result = json.loads(refused(account, "--json"))

    assert (result["status"], result["run"]) == ("stopped", None)
    assert refused(account).startswith(f"account {account.pk}: service stopped")


def test_it_reports_no_free_slot_under_the_global_cap():
    configure(max_concurrent_downloads=1, max_sessions_per_host=0)
    assert admission.admit(offline_account(host="elsewhere.example.test"), 60, "manual")
    account = offline_account()

    assert json.loads(refused(account, "--json"))["status"] == "no_slot"
    assert refused(account).startswith(f"account {account.pk}: no free slot (")


def test_it_reports_no_free_slot_on_the_server():
    configure(max_concurrent_downloads=10, max_sessions_per_host=1)
    assert admission.admit(offline_account(host="pop.example.test"), 60, "manual")
    account = offline_account(host="POP.example.test")

    assert json.loads(refused(account, "--json"))["status"] == "no_server_slot"
    assert f"account {account.pk}: no free slot on POP.example.test" in refused(account)


def test_it_words_a_task_no_longer_due():
    # fetch itself is never "not due" (it runs whatever it is given); a caller
    # reading admission.admit's reasons through it still gets a status.
    result = refusal(7, admission.NOT_DUE)

    assert (result["status"], result["run"]) == ("not_due", None)
    assert human(result) == f"account 7: not due ({admission.NOT_DUE})"


def test_it_refuses_unknown_accounts_and_missing_arguments():
    with pytest.raises(CommandError, match="no such account: 999999"):
        fetch("--account", "999999")
    with pytest.raises(CommandError, match="--all"):
        fetch()
