"""Delivery through a real mail server: Dovecot LMTP and an SMTP relay (aiosmtpd)."""

import socket
import uuid

import pytest

from delivery.models import Delivery, DeliveryTarget
from retrieval import engine
from retrieval.models import GlobalSettings, RemoteAccount, Run
from tests.factories import local_messages, make_account, make_mailbox
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def domain():
    name = f"lmtp-{uuid.uuid4().hex[:8]}.test"
    gs = GlobalSettings.load()
    gs.accepted_domains = [name]
    gs.save()
    return name


def lmtp_target(dovecot, port=None):
    # Dovecot's users are bare names: deliver to the local part.
    return DeliveryTarget.objects.create(
        name=f"dovecot-{uuid.uuid4().hex[:6]}", kind="lmtp", host="127.0.0.1",
        port=port or dovecot.lmtp_port, recipient_form="localpart", is_default=True,
    )


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_it_delivers_a_catchall_message_over_lmtp_in_one_transaction(dovecot, mail_user, domain):
    lmtp_target(dovecot)
    locals_ = [dovecot.add_user()[0] for _ in range(2)]
    boxes = [make_mailbox(f"{name}@{domain}") for name in locals_]
    dovecot.deliver(mail_user[0], (
        f"To: {boxes[0].address}, {boxes[1].address}\nMessage-ID: <lmtp@o.test>\n\nhi\n"
    ).encode())
    account = make_account(dovecot, *mail_user, mode="catchall", owner=boxes[0])

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, (run.error, run.notes)
    assert (run.delivered, run.deleted) == (2, 1)
    for name in locals_:
        [got] = dovecot.messages(name)
        assert b"Message-ID: <lmtp@o.test>" in got and b"by popadmin" in got
    assert local_messages(boxes[0]) == []  # not the Maildir: the target took it
    assert set(Delivery.objects.filter(run=run).values_list("backend", "result")) == {
        ("lmtp", "delivered")
    }
    assert dovecot.messages(mail_user[0]) == []


def test_it_keeps_the_message_when_one_recipient_is_refused(dovecot, mail_user, domain):
    lmtp_target(dovecot)
    known = dovecot.add_user()[0]
    good, bad = make_mailbox(f"{known}@{domain}"), make_mailbox(f"nosuchuser@{domain}")
    dovecot.deliver(mail_user[0], (
        f"To: {good.address}, {bad.address}\nMessage-ID: <half@o.test>\n\nhi\n").encode())
    account = make_account(dovecot, *mail_user, mode="catchall", owner=good)

    first = engine.run_account(account.pk, Run.Trigger.MANUAL)
    second = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert first.status == Run.Status.PARTIAL
    assert (first.delivered, first.failed, first.deleted) == (1, 1, 0)
    assert any("nosuchuser" in n and "permanent" in n for n in first.notes)
    # The retry does not give the served recipient a second copy.
    assert (second.delivered, second.failed) == (0, 1)
    assert len(dovecot.messages(known)) == 1
    assert len(dovecot.messages(mail_user[0])) == 1  # still on the remote server
    failed = Delivery.objects.filter(recipient="nosuchuser", result="failed").first()
    assert failed and "550" in failed.detail


def test_it_retries_later_when_the_mail_server_is_down(dovecot, mail_user, domain):
    target = lmtp_target(dovecot, port=closed_port())
    known = dovecot.add_user()[0]
    box = make_mailbox(f"{known}@{domain}")
    dovecot.deliver_many(mail_user[0], 2)
    account = make_account(dovecot, *mail_user, owner=box)

    down = engine.run_account(account.pk, Run.Trigger.MANUAL)
    target.port = dovecot.lmtp_port
    target.save()
    up = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert down.status == Run.Status.PARTIAL and (down.delivered, down.deleted) == (0, 0)
    assert "could not be delivered" in down.error and "refused" in down.error
    assert len(dovecot.messages(mail_user[0])) == 0 and up.delivered == 2
    assert len(dovecot.messages(known)) == 2


def test_it_shows_mailbox_full_on_the_account(dovecot, mail_user):
    box = make_mailbox(quota_mb=1)
    box.maildir.joinpath("cur").mkdir(parents=True)
    box.maildir.joinpath("cur", "1.M1P1.host,S=1048576:2,S").write_bytes(b"x")
    dovecot.deliver_many(mail_user[0], 1)
    account = make_account(dovecot, *mail_user, owner=box)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    account.refresh_from_db()
    assert run.status == Run.Status.PARTIAL
    assert "mailbox full" in account.last_error
    # Known by its kind, not its words: the "mailbox full" list and alert read this.
    assert account.last_error_kind == RemoteAccount.ErrorKind.MAILBOX_FULL
    assert len(dovecot.messages(mail_user[0])) == 1


def test_it_relays_over_smtp(dovecot, mail_user):
    with SmtpServer() as relay:
        DeliveryTarget.objects.create(name="relay", kind="smtp", host="127.0.0.1",
                                      port=relay.port, security="none", is_default=True)
        dovecot.deliver_many(mail_user[0], 2)
        account = make_account(dovecot, *mail_user)

        run = engine.run_account(account.pk, Run.Trigger.MANUAL)

        assert run.status == Run.Status.OK, (run.error, run.notes)
        assert len(relay.received) == 2
        assert relay.received[0].rcpt_tos == [account.owner.address]
    assert dovecot.messages(mail_user[0]) == []


def test_it_leaves_mail_on_the_server_when_the_relay_is_full(dovecot, mail_user):
    with SmtpServer() as relay:
        relay.data_reply = "452 4.2.2 Mailbox full"
        DeliveryTarget.objects.create(name="relay", kind="smtp", host="127.0.0.1",
                                      port=relay.port, security="none", is_default=True)
        dovecot.deliver_many(mail_user[0], 1)
        account = make_account(dovecot, *mail_user)

        run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    account.refresh_from_db()
    assert run.status == Run.Status.PARTIAL and run.deleted == 0
    assert "mailbox full" in account.last_error
    assert account.last_error_kind == RemoteAccount.ErrorKind.MAILBOX_FULL
    assert len(dovecot.messages(mail_user[0])) == 1
