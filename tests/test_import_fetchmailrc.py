"""import_fetchmailrc: what is imported, refused, previewed, and that twice changes nothing."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Mailbox
from retrieval.models import GlobalSettings, RemoteAccount, SeenMessage

pytestmark = pytest.mark.django_db

RC = r"""
set daemon 600
defaults proto pop3 user "nobody"
poll pop.remote.test via mail.remote.test port 995
    user "jsmith" with pass "s3cret\x21" is "smith" here options ssl keep limit 1048576
    user jones there with password 'two "quoted" words' is jjones@local.test here
skip imap.remote.test proto IMAP
    user "ann" password "pw" is smith here folder INBOX Lists no sslcertck
poll drop.remote.test localdomains example.org envelope X-Original-To
    user maildrop pass secret1 to * here
poll kerb.remote.test auth kerberos user k pass p is smith here
poll lost.remote.test proto pop3 user lost pass p is nobody-here here
"""


@pytest.fixture
def rc(tmp_path):
    smith = get_user_model().objects.create(username="smith")
    Mailbox.objects.create(address="smith@local.test", user=smith)
    Mailbox.objects.create(address="jjones@local.test")
    Mailbox.objects.create(address="pm@local.test", is_postmaster=True)
    path = tmp_path / "fetchmailrc"
    path.write_text(RC)
    return path


def run(*args):
    out = io.StringIO()
    call_command("import_fetchmailrc", *map(str, args), stdout=out)
    return out.getvalue()


def test_it_imports_what_it_can_and_lists_the_rest(rc):
    out = run(rc)

    smith = RemoteAccount.objects.get(username="jsmith")
    assert (smith.host, smith.port, smith.security, smith.keep_policy) == (
        "mail.remote.test", 995, "tls", "keep")
    assert smith.owner.address == "smith@local.test" and smith.get_password() == "s3cret!"
    assert smith.max_message_mb == 1 and smith.poll_minutes == 10
    jones = RemoteAccount.objects.get(username="jones")
    assert jones.get_password() == 'two "quoted" words' and jones.security == "tls"  # port 995
    ann = RemoteAccount.objects.get(username="ann")
    assert (ann.protocol, ann.enabled, ann.verify_tls, ann.folders) == (
        "imap", False, False, ["INBOX", "Lists"])
    drop = RemoteAccount.objects.get(username="maildrop")
    assert (drop.mode, drop.owner.address) == ("catchall", "pm@local.test")
    gs = GlobalSettings.objects.get()
    assert "example.org" in gs.accepted_domains and "X-Original-To" in gs.header_fields
    assert "fetchmailrc:11: refused k@kerb.remote.test: authentication kerberos_v4" in out
    assert "fetchmailrc:12: refused lost@lost.remote.test: local name 'nobody-here'" in out
    assert "s3cret" not in out and "quoted" not in out
    assert RemoteAccount.objects.count() == 4


def test_a_second_import_changes_nothing(rc):
    run(rc)
    before = list(RemoteAccount.objects.values().order_by("pk"))

    out = run(rc)

    assert "0 created, 0 updated, 4 unchanged" in out
    assert list(RemoteAccount.objects.values().order_by("pk")) == before


def test_dry_run_shows_and_writes_nothing(rc):
    out = run(rc, "--dry-run")

    assert out.startswith("dry run, nothing written: accounts: 4 created")
    assert "fetchmailrc:5: create jsmith@mail.remote.test -> smith@local.test" in out
    assert RemoteAccount.objects.count() == 0 and not GlobalSettings.objects.exists()


def test_a_syntax_error_imports_nothing(rc, tmp_path):
    rc.write_text(RC + "poll late.test user x keep\n  via other.test\n")

    with pytest.raises(CommandError) as caught:
        run(rc)

    assert "line 14, column 3: server option after user options" in str(caught.value)
    assert RemoteAccount.objects.count() == 0


def test_fetchids_become_seen_state_once(rc, tmp_path):
    ids = tmp_path / ".fetchids"
    ids.write_text("jsmith@pop.remote.test UID-1\njsmith@pop.remote.test UID-2\n"
                   "jones@mail.remote.test <odd@uid>\nother@else.test X\n")

    out = run(rc, "--state", ids)
    again = run(rc, "--state", ids)

    seen = SeenMessage.objects.values_list("account__username", "uid")
    assert sorted(seen) == [("jones", "<odd@uid>"), ("jsmith", "UID-1"), ("jsmith", "UID-2")]
    assert "other@else.test" in out and "2 taken before" in out
    assert "0 already-taken message(s) recorded" in again
