"""What the import commands say an update changes: each field old → new, "created
disabled", and the rewrites (an account its user set up, another protocol or port)
that need --confirm-rewrites. An entry matches an account by owner, server and login."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Mailbox
from retrieval.models import RemoteAccount

pytestmark = pytest.mark.django_db

OLD_PASSWORD = "old-remote-pass"
NEW_PASSWORD = "new-remote-pass"
RC = f"""poll pop.remote.test proto imap port 143
    user "alice" with pass "{NEW_PASSWORD}" is alice here
skip paused.remote.test proto pop3
    user "ann" password "pw-ann" is alice here
"""


@pytest.fixture
def pop3_account():
    """A POP3 account on port 995 leaving mail on the server, set up by its user."""
    alice = get_user_model().objects.create(username="alice")
    mailbox = Mailbox.objects.create(address="alice@local.test", user=alice)
    account = RemoteAccount(owner=mailbox, protocol="pop3", security="tls", host="pop.remote.test",
                            username="alice", keep_policy="keep", created_by_user=True)
    account.set_password(OLD_PASSWORD)
    account.save()
    return account


def run(command, *args):
    out = io.StringIO()
    call_command(command, *map(str, args), stdout=out)
    return out.getvalue()


def fetchmailrc(tmp_path, text=RC):
    path = tmp_path / "fetchmailrc"
    path.write_text(text)
    return path


def test_an_imap_entry_for_a_pop3_account_shows_every_change_and_warns(pop3_account, tmp_path):
    rc = fetchmailrc(tmp_path)

    out = run("import_fetchmailrc", rc, "--dry-run")

    lines = out.splitlines()
    row = lines.index(f"{rc}:2: update alice@pop.remote.test -> alice@local.test")
    details = lines[row + 1:row + 9]
    assert "    protocol: pop3 → imap" in details
    assert "    security: tls → starttls" in details
    assert "    port: default (995) → 143" in details
    assert "    keep: keep → delete" in details
    assert "    password: changed" in details
    assert ("    warning: set up by the user alice on their own pages; this import rewrites it"
            in details)
    assert any(line.startswith("    warning: connects another way: POP3 on port 995 → IMAP on "
                               "port 143") for line in details)
    # Unchanged fields are not listed, and no password is ever shown.
    assert not any(line.startswith(("    host:", "    username:", "    enabled:"))
                   for line in details)
    assert OLD_PASSWORD not in out and NEW_PASSWORD not in out
    assert "1 rewrite(s) to confirm" in lines[0]


def test_a_skipped_entry_says_it_is_created_disabled(pop3_account, tmp_path):
    rc = fetchmailrc(tmp_path)

    out = run("import_fetchmailrc", rc, "--dry-run")

    assert (f"{rc}:4: create ann@paused.remote.test -> alice@local.test: created disabled "
            "(skip in the fetchmailrc: fetchmail does not poll it)") in out.splitlines()


def test_the_match_is_owner_server_and_login_so_nothing_is_added_beside_it(pop3_account,
                                                                           tmp_path):
    rc = fetchmailrc(tmp_path)

    with pytest.raises(CommandError) as refused:
        run("import_fetchmailrc", rc)

    message = str(refused.value)
    assert f"{rc}:2: alice@pop.remote.test: set up by the user alice" in message
    assert "--confirm-rewrites" in message
    assert RemoteAccount.objects.count() == 1  # nothing written, not even the skipped entry
    pop3_account.refresh_from_db()
    assert (pop3_account.protocol, pop3_account.port) == ("pop3", None)

    out = run("import_fetchmailrc", rc, "--confirm-rewrites")

    assert "accounts: 1 created, 1 updated" in out
    assert RemoteAccount.objects.filter(host="pop.remote.test").count() == 1
    pop3_account.refresh_from_db()
    assert (pop3_account.protocol, pop3_account.port, pop3_account.keep_policy) == (
        "imap", 143, "delete")
    assert pop3_account.get_password() == NEW_PASSWORD
    assert not RemoteAccount.objects.get(username="ann").enabled


def test_a_change_of_port_alone_needs_a_confirmation(tmp_path):
    mailbox = Mailbox.objects.create(address="bob@local.test")
    account = RemoteAccount(owner=mailbox, protocol="imap", security="tls",
                            host="imap.remote.test", username="bob", keep_policy="keep")
    account.set_password(OLD_PASSWORD)
    account.save()
    rc = fetchmailrc(tmp_path, "poll imap.remote.test proto imap port 1993\n"
                     f'  user bob pass "{OLD_PASSWORD}" is bob@local.test here options ssl keep\n')

    out = run("import_fetchmailrc", rc, "--dry-run")

    assert "    port: default (993) → 1993" in out.splitlines()
    assert ("    warning: connects another way: IMAP on port 993 → IMAP on port 1993"
            in out)
    assert "password" not in out and "user bob" not in out
    with pytest.raises(CommandError):
        run("import_fetchmailrc", rc)


def test_an_unchanged_or_staff_made_account_is_rewritten_without_asking(tmp_path):
    mailbox = Mailbox.objects.create(address="carol@local.test")
    account = RemoteAccount(owner=mailbox, protocol="pop3", security="tls",
                            host="pop.remote.test", username="carol", keep_policy="delete")
    account.set_password(OLD_PASSWORD)
    account.save()
    rc = fetchmailrc(tmp_path, "poll pop.remote.test proto pop3\n"
                     f'  user carol pass "{OLD_PASSWORD}" is carol@local.test here '
                     "options ssl keep limit 2097152\n")

    out = run("import_fetchmailrc", rc)

    assert "accounts: 0 created, 1 updated" in out
    assert "    keep: delete → keep" in out.splitlines()
    assert "    max_message_mb: 0 → 2" in out.splitlines()
    assert "warning" not in out
    assert RemoteAccount.objects.get().keep_policy == "keep"
    assert "0 updated, 1 unchanged" in run("import_fetchmailrc", rc)


def test_getmail_updates_list_their_changes_too(pop3_account, tmp_path):
    rc = tmp_path / "getmailrc"
    rc.write_text("[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = pop.remote.test\n"
                  f"username = alice\npassword = {NEW_PASSWORD}\n"
                  "[destination]\ntype = Maildir\npath = ~/Maildir/\n"
                  "[options]\ndelete = true\n")

    out = run("import_getmailrc", rc, "--owner", "alice@local.test", "--dry-run")

    assert "    protocol: pop3 → imap" in out.splitlines()
    assert "warning: set up by the user alice" in out
    with pytest.raises(CommandError):
        run("import_getmailrc", rc, "--owner", "alice@local.test")


def test_import_accounts_lists_the_changes_of_a_json_file(pop3_account, tmp_path):
    doc = {"accounts": [
        {"owner": "alice@local.test", "host": "pop.remote.test", "username": "alice",
         "protocol": "imap", "port": 143, "password": NEW_PASSWORD},
        {"owner": "alice@local.test", "host": "new.remote.test", "username": "alice",
         "password": "x", "enabled": False},
    ]}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc))

    out = run("import_accounts", path, "--dry-run")

    lines = out.splitlines()
    assert "accounts[0]: update alice@pop.remote.test -> alice@local.test" in lines
    assert "    protocol: pop3 → imap" in lines and "    port: default (995) → 143" in lines
    assert "    password: changed" in lines and NEW_PASSWORD not in out
    assert "    warning: set up by the user alice on their own pages; this import rewrites it" \
        in lines
    assert ("accounts[1]: create alice@new.remote.test -> alice@local.test: created disabled "
            "(enabled is false in the file)") in lines
    with pytest.raises(CommandError) as refused:
        run("import_accounts", path)
    assert "--confirm-rewrites" in str(refused.value)
    assert RemoteAccount.objects.count() == 1

    run("import_accounts", path, "--confirm-rewrites")

    assert RemoteAccount.objects.get(host="pop.remote.test").protocol == "imap"
    assert RemoteAccount.objects.count() == 2
