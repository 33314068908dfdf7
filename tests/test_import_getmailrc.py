"""import_getmailrc: getmail6 rc files and their oldmail state."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Mailbox
from retrieval.models import RemoteAccount, SeenMessage

pytestmark = pytest.mark.django_db

IMAP_RC = """[retriever]
type = SimpleIMAPSSLRetriever
server = imap.remote.test
username = jeff
password = pw:with;odd=chars
mailboxes = ("INBOX", "Lists")

[destination]
type = Maildir
path = ~/Maildir/.Remote/

[options]
delete_after = 14
read_all = false
"""
POP_RC = """[retriever]
type = MultidropPOP3Retriever
server = pop.remote.test
username = drop
password_command = ("/usr/bin/pass", "mail")
envelope_recipient = delivered-to:1
"""


def run(tmp_path, *args):
    out = io.StringIO()
    call_command("import_getmailrc", *map(str, args), "--owner", "me@local.test", stdout=out)
    return out.getvalue()


def test_it_imports_with_the_oldmail_state_and_lists_the_rest(tmp_path):
    Mailbox.objects.create(address="me@local.test")
    (tmp_path / "imap.rc").write_text(IMAP_RC)
    (tmp_path / "pop.rc").write_text(POP_RC)
    state = tmp_path / "oldmail-imap.remote.test-993-jeff-Lists"
    state.write_text("17/3\x001700000000\n17/4\x001700000000\nnot a line\n")

    out = run(tmp_path, tmp_path / "imap.rc", tmp_path / "pop.rc", "--state", state)
    again = run(tmp_path, tmp_path / "imap.rc", tmp_path / "pop.rc", "--state", state)

    account = RemoteAccount.objects.get()
    assert (account.protocol, account.security, account.folders) == (
        "imap", "tls", ["INBOX", "Lists"])
    assert (account.keep_policy, account.keep_days, account.target_folder) == (
        "keep_days", 14, "Remote")
    assert account.get_password() == "pw:with;odd=chars"
    assert sorted(SeenMessage.objects.values_list("uid", flat=True)) == ["Lists/17/3",
                                                                        "Lists/17/4"]
    assert "pop.rc:2: refused drop@pop.remote.test: password_command" in out
    assert "0 created, 0 updated, 1 unchanged" in again


def test_a_broken_file_imports_nothing(tmp_path):
    Mailbox.objects.create(address="me@local.test")
    (tmp_path / "good.rc").write_text(IMAP_RC)
    (tmp_path / "bad.rc").write_text("server = x\n")

    with pytest.raises(CommandError) as caught:
        run(tmp_path, tmp_path / "good.rc", tmp_path / "bad.rc")

    assert "bad.rc: syntax error at line 1, column 1" in str(caught.value)
    assert not RemoteAccount.objects.exists()
