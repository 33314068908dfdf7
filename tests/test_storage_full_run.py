"""A full or read-only local disk (a real tmpfs as MAIL_ROOT) fails the account:
the run is an error that says so, downloads no more than the message in hand,
backs off, and lists the account under "mailbox full"; nothing is deleted at the
source that is not stored. A delivery server out of storage (x.3.1) is the same."""

import pytest
from django.utils import timezone

from delivery.models import DeliveryTarget
from retrieval import engine
from retrieval.models import GlobalSettings, RemoteAccount, Run
from retrieval.ops import queries
from tests.factories import local_messages, make_account
from tests.fakeserver import FakeServer
from tests.full_disk import fill, read_only, small_disk
from tests.hostile import PROTOCOLS, account_on, make_messages
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_retries():
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(
        connection_retries=1, retry_seconds=0, timeout_seconds=5)


@pytest.fixture
def disk(tmp_path, settings):
    """MAIL_ROOT on a 2 MB file system of its own."""
    with small_disk(tmp_path / "mail") as root:
        settings.MAIL_ROOT = root
        yield root


@pytest.fixture
def downloads(monkeypatch):
    """How many messages the engine downloaded (Retrieval.take: fetch, then deliver)."""
    taken = []
    original = engine.Retrieval.take

    def take(self, session, msg):
        taken.append(msg.uid)
        return original(self, session, msg)

    monkeypatch.setattr(engine.Retrieval, "take", take)
    return taken


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_a_full_disk_fails_the_account_and_stops_the_downloads(
        protocol, disk, downloads, dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 6)
    account = make_account(dovecot, *mail_user, protocol=protocol)
    fill(disk)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert run.error.startswith("local disk full: cannot write to mailbox "), run.error
    assert "No space left on device; mail left on the server" in run.error
    assert len(downloads) == 1 and run.fetched == 1 and run.failed == 1
    assert len(dovecot.messages(mail_user[0])) == 6
    account.refresh_from_db()
    assert (account.last_status, account.last_error) == ("error", run.error)
    assert account.last_error_kind == RemoteAccount.ErrorKind.STORAGE_FULL
    assert account.consecutive_failures == 1 and account.failing_since == run.started
    # Backed off like any failing account: the next check is not the usual interval away.
    first_wait = account.next_check - run.finished

    again = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert again.status == Run.Status.ERROR and again.fetched == 1
    account.refresh_from_db()
    assert account.consecutive_failures == 2
    assert account.next_check - again.finished > first_wait * 1.8
    assert [a.pk for a in queries.mailbox_full()["rows"]] == [account.pk]


def test_what_was_stored_before_the_disk_filled_is_taken_and_the_rest_waits(
        disk, downloads, dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 8, size=150_000)
    account = make_account(dovecot, *mail_user)
    fill(disk, leave=400_000)  # room for two of them, not three

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR and "local disk full" in run.error
    stored = local_messages(account.owner)
    assert len(stored) == run.delivered == run.deleted >= 1
    assert len(downloads) == run.delivered + 1  # the one that did not fit, no further
    # Whatever left the server is on the local disk, whole.
    left = dovecot.messages(mail_user[0])
    assert len(left) + len(stored) == 8
    assert not any(b"filler" in m for m in stored)


def test_room_again_brings_the_mail_and_clears_the_failure(disk, dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user)
    filler = fill(disk)
    engine.run_account(account.pk, Run.Trigger.MANUAL)
    filler.unlink()

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.status, run.delivered) == (Run.Status.OK, 3)
    account.refresh_from_db()
    assert (account.consecutive_failures, account.last_error_kind) == (0, "")
    assert queries.mailbox_full()["rows"] == []
    assert dovecot.messages(mail_user[0]) == []


def test_a_read_only_mail_root_fails_the_account(disk, downloads, dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 3)
    account = make_account(dovecot, *mail_user)
    read_only(disk)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert run.error.startswith("local disk read-only: "), run.error
    assert "mail left on the server" in run.error
    assert len(downloads) == 1
    assert len(dovecot.messages(mail_user[0])) == 3
    account.refresh_from_db()
    assert account.last_error_kind == RemoteAccount.ErrorKind.STORAGE_FULL
    assert account.failing_since is not None and account.failing_since <= timezone.now()


def test_a_delivery_server_out_of_storage_stops_the_run_too(downloads, dovecot, mail_user):
    with SmtpServer() as relay:
        relay.data_reply = "452 4.3.1 Insufficient system storage"
        DeliveryTarget.objects.create(name="relay", kind="smtp", host="127.0.0.1",
                                      port=relay.port, security="none", is_default=True)
        dovecot.deliver_many(mail_user[0], 4)
        account = make_account(dovecot, *mail_user)

        run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.ERROR
    assert "452 4.3.1 Insufficient system storage; mail left on the server" in run.error
    assert len(downloads) == 1 and len(relay.received) == 0
    assert len(dovecot.messages(mail_user[0])) == 4
    account.refresh_from_db()
    assert account.last_error_kind == RemoteAccount.ErrorKind.STORAGE_FULL
    assert account.consecutive_failures == 1


def test_after_a_refused_check_a_run_asks_the_server_for_one_message_only(disk):
    pop3 = PROTOCOLS["pop3"]
    box = pop3.box(make_messages(10), capa=("USER", "UIDL", "TOP", "PIPELINING"))
    with FakeServer(box) as server:
        account = account_on(pop3, server)
        filler = fill(disk)
        first = engine.run_account(account.pk, Run.Trigger.MANUAL)
        server.received.clear()

        again = engine.run_account(account.pk, Run.Trigger.MANUAL)
        asked = [line for line in server.received if line.startswith(b"RETR")]

        filler.unlink()
        healed = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert first.status == again.status == Run.Status.ERROR
    # Not the pipelined window: the one message that finds the disk still full.
    assert asked == [b"RETR 1"]
    assert (healed.status, healed.delivered, len(box.messages)) == (Run.Status.OK, 10, 0)
