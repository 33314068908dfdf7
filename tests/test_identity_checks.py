"""What a seen-state row records beyond its uid, and how the checks behave on
honest servers: kept mail is deleted without a second download, a reused uid
is fetched once and not again, a size counted differently is no new message."""

import importlib
import io

import pytest
from django.apps import apps
from django.utils import timezone

from retrieval import engine
from retrieval.identity import spool_header_digest
from retrieval.models import RemoteAccount, Run, SeenMessage
from retrieval.protocols.header_digest import header_digest
from tests.admin_helpers import make_remote
from tests.factories import make_account
from tests.fakeserver import FakeServer, Pop3Mailbox
from tests.hostile import PROTOCOLS, account_on, delivered, reason, run
from tests.test_no_loss_identity_matrix import age_seen, message

pytestmark = pytest.mark.django_db


def rows(account):
    return list(SeenMessage.objects.filter(account=account).order_by("uid"))


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_kept_mail_is_deleted_on_dovecot_without_a_second_download(dovecot, mail_user, protocol):
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user, protocol=protocol,
                           keep_policy=RemoteAccount.Keep.KEEP_DAYS, keep_days=3)
    first = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert first.fetched == 3, first.error
    recorded = rows(account)
    assert all(r.size and r.origin == "taken" for r in recorded)
    # Dovecot's TOP / BODY[HEADER] hash as the fetched copy's headers do: no needless
    # download before the deletion.
    assert all(r.header_digest for r in recorded)
    age_seen(account)

    second = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (second.fetched, second.deleted) == (0, 3), reason(second)
    assert dovecot.messages(mail_user[0]) == []


def test_a_reused_uidl_is_fetched_once_and_its_row_replaced():
    old, new = message("old"), message("new-one", pad=25)
    box = Pop3Mailbox([old], uidls=["1"])
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server,
                             keep_policy=RemoteAccount.Keep.KEEP_DAYS, keep_days=3)
        run(account)
        box.messages = [new]
        age_seen(account)
        before = timezone.now()

        again, third = run(account), run(account)

    assert (again.fetched, third.fetched, third.deleted) == (1, 0, 0)
    [row] = rows(account)
    assert row.size == len(new) and row.first_seen >= before


def test_a_size_the_server_counts_differently_is_not_a_new_message():
    mail = message("counted")
    box = Pop3Mailbox([mail], uidls=["u1"])
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server, keep_policy=RemoteAccount.Keep.KEEP)
        run(account)
        taken = rows(account)[0].first_seen

        def list_plus_three(conn, arg, state):  # the server now counts 3 bytes more
            conn.send(b"+OK\r\n1 %d\r\n.\r\n" % (len(mail) + 3))

        box.overrides["LIST"] = list_plus_three
        again, third = run(account), run(account)

    assert (again.fetched, again.delivered, again.duplicates) == (1, 0, 1), reason(again)
    assert third.fetched == 0
    assert len(delivered(account)) == 1
    [row] = rows(account)
    assert (row.size, row.first_seen) == (len(mail) + 3, taken)


def test_top_and_the_spooled_copy_hash_alike():
    headers = [b"From: a@example.test", b"Subject: x", b"\tfolded", b""]
    spooled = io.BytesIO(b"From: a@example.test\nSubject: x\n\tfolded\n\nbody\nmore\n")

    assert header_digest(line + b"\r\n" for line in headers + [b"body"]) == (
        spool_header_digest(spooled))
    assert header_digest([b"Subject: y", b""]) != spool_header_digest(spooled)


def test_the_upgrade_marks_rows_written_by_imports_as_imported():
    account = make_remote()
    SeenMessage.objects.create(account=account, uid="from-fetchids")
    SeenMessage.objects.create(account=account, uid="delivered", message_key="mid:abc")
    migration = importlib.import_module("retrieval.migrations.0023_seenmessage_identity")

    migration.mark_imported(apps, None)

    origins = dict(SeenMessage.objects.values_list("uid", "origin"))
    assert origins == {"from-fetchids": "imported", "delivered": "taken"}


def test_a_server_whose_top_differs_from_its_retr_costs_one_download_not_one_per_poll():
    mail = message("kept")
    box = Pop3Mailbox([mail], uidls=["u1"])
    box.overrides["TOP"] = lambda conn, arg, state: conn.send(
        b"+OK\r\nX-Added-By-Top: yes\r\n" + mail.split(b"\r\n\r\n")[0] + b"\r\n.\r\n")
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server,
                             keep_policy=RemoteAccount.Keep.KEEP_DAYS, keep_days=3)
        run(account)
        age_seen(account)

        due = run(account)

    # Fetched to check it, found to be the message taken: deleted now, not delivered twice.
    assert (due.fetched, due.delivered, due.duplicates, due.deleted) == (1, 0, 1, 1), reason(due)
    assert box.messages == [] and len(delivered(account)) == 1


def test_a_server_that_refuses_top_is_checked_by_size_alone():
    box = Pop3Mailbox([message("a"), message("b")], uidls=["u1", "u2"])
    box.overrides["TOP"] = lambda conn, arg, state: conn.sendline(b"-ERR no TOP here")
    with FakeServer(box) as server:
        account = account_on(PROTOCOLS["pop3"], server,
                             keep_policy=RemoteAccount.Keep.KEEP_DAYS, keep_days=3)
        run(account)
        age_seen(account)

        due = run(account)

    assert (due.status, due.fetched, due.deleted) == (Run.Status.OK, 0, 2), reason(due)
    assert server.commands().count(b"TOP") == 1  # refused once, not asked again
