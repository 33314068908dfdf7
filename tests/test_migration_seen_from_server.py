"""fetchmail IMAP accounts with `keep`: the server's \\Seen flags become seen-state at import."""

import io
import socket

import pytest
from django.core.management import call_command

from accounts.models import Mailbox
from retrieval import engine
from retrieval.models import RemoteAccount, Run, SeenMessage
from tests.factories import local_messages
from tests.test_imap_seen_uids import mark_seen
from tests.test_migration_end_to_end import quoted

pytestmark = pytest.mark.django_db


def rc_file(tmp_path, user, password, port, options="ssl keep", owner="esr@local.test"):
    rc = tmp_path / "fetchmailrc"
    rc.write_text(f"poll localhost proto imap port {port}\n"
                  f"  user {user} there with password {quoted(password)} "
                  f"is {owner} here options {options}\n")
    return rc


def run(*args):
    out = io.StringIO()
    call_command("import_fetchmailrc", *map(str, args), stdout=out)
    return out.getvalue()


def seen_uids(account):
    return set(SeenMessage.objects.filter(account=account).values_list("uid", flat=True))


def test_it_takes_only_the_mail_fetchmail_left_unseen(dovecot, mail_user, tmp_path):
    user, password = mail_user
    dovecot.deliver_many(user, 3)
    mark_seen(dovecot, mail_user, [1, 3])  # what fetchmail took and kept
    # Its own local Maildir: the session's mail root is shared by every test.
    owner = Mailbox.objects.create(address=f"{user}@local.test")
    dovecot.deliver_many(user, 2)  # new since fetchmail's last run

    out = run(rc_file(tmp_path, user, password, dovecot.imaps_port, owner=owner.address))

    account = RemoteAccount.objects.get(owner=owner)
    assert len(seen_uids(account)) == 2
    assert "(2 taken before)" in out
    assert "2 message(s) flagged \\Seen on the server recorded as taken" in out
    run_ = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert run_.status == Run.Status.OK, run_.error
    assert (run_.seen, run_.fetched, run_.delivered, run_.deleted) == (5, 3, 3, 0)
    subjects = sorted(m.split(b"Subject: ")[1].split(b"\n")[0] for m in local_messages(owner))
    assert subjects == [b"test message 1 of 2", b"test message 2 of 2", b"test message 2 of 3"]


def test_dry_run_counts_and_writes_nothing_and_a_second_import_adds_nothing(
        dovecot, mail_user, tmp_path):
    user, password = mail_user
    dovecot.deliver_many(user, 2)
    mark_seen(dovecot, mail_user, [1, 2])
    Mailbox.objects.create(address="esr@local.test")
    rc = rc_file(tmp_path, user, password, dovecot.imaps_port)

    out = run(rc, "--dry-run")
    assert "(2 taken before)" in out and not SeenMessage.objects.exists()
    run(rc)
    out = run(rc)

    assert "0 created, 0 updated, 1 unchanged" in out and "0 already-taken" in out
    assert SeenMessage.objects.count() == 2


def test_it_can_be_turned_off(dovecot, mail_user, tmp_path):
    user, password = mail_user
    dovecot.deliver_many(user, 2)
    mark_seen(dovecot, mail_user, [1])
    Mailbox.objects.create(address="esr@local.test")

    out = run(rc_file(tmp_path, user, password, dovecot.imaps_port), "--no-seen-from-server")

    assert not SeenMessage.objects.exists()
    assert "reading the flags was turned off: messages left on the server are taken" in out


def test_an_unreachable_server_is_imported_with_a_note(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    Mailbox.objects.create(address="esr@local.test")

    out = run(rc_file(tmp_path, "gone", "secret-pw", port))

    account = RemoteAccount.objects.get(username="gone")
    assert not seen_uids(account)
    assert "1 created" in out
    assert "note: could not read the \\Seen flags from the server (" in out
    assert "messages left on the server are taken once more" in out
    assert "secret-pw" not in out


def test_accounts_that_delete_are_not_asked(tmp_path):
    Mailbox.objects.create(address="esr@local.test")
    # Nothing listens there: asking would leave a note.
    out = run(rc_file(tmp_path, "u", "p", 993, options="ssl"))
    assert "Seen" not in out and "1 created" in out
