"""What one catch-all recipient's copy tells about the others: nothing (Maildir and LMTP).

The provider's catch-all box may hold one copy for several envelope
recipients, one Delivered-To each; a Bcc recipient is named only there.
"""

import uuid

import pytest

from delivery.models import DeliveryTarget
from retrieval import engine
from retrieval.models import GlobalSettings, Run
from tests.factories import local_messages, make_account, make_mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def domain():
    name = f"priv-{uuid.uuid4().hex[:8]}.test"
    gs = GlobalSettings.load()
    gs.accepted_domains = [name]
    gs.reroute_unknown = False
    gs.save()
    return name


def bcc_message(alice, bob, carol, mid) -> bytes:
    """For alice (To) and carol (Bcc); bob is in To but not an envelope recipient of this copy."""
    return (
        f"Return-Path: <sender@out.test>\n"
        f"Delivered-To: {alice}\n"
        f"Received: from mx.out.test by mx.isp.test with ESMTP id 1 for <{carol}>; "
        f"Mon, 1 Jun 2026 10:00:00 +0000\n"
        f"Delivered-To: {carol}\n"
        f"X-Original-To: {carol}\n"
        f"From: sender@out.test\nTo: {alice}, {bob}\n"
        f"Message-ID: <{mid}@out.test>\nSubject: plans\n\nsee you\n"
    ).encode()


def run_catchall(dovecot, mail_user, owner, mail: bytes) -> Run:
    dovecot.deliver(mail_user[0], mail)
    account = make_account(dovecot, *mail_user, mode="catchall", owner=owner)
    run = engine.run_account(account.pk, Run.Trigger.MANUAL)
    assert run.status == Run.Status.OK, (run.error, run.notes)
    return run


def test_it_delivers_by_envelope_and_keeps_bcc_private_in_maildir(dovecot, mail_user, domain):
    alice, bob, carol = (make_mailbox(f"{n}@{domain}") for n in ("alice", "bob", "carol"))
    mail = bcc_message(alice.address, bob.address, carol.address, "bcc-maildir")

    run = run_catchall(dovecot, mail_user, alice, mail)

    assert run.delivered == 2
    assert local_messages(bob) == []  # named in To, but not an envelope recipient
    [to_alice], [to_carol] = local_messages(alice), local_messages(carol)
    assert b"carol" not in to_alice
    head_carol = to_carol.split(b"\n\n", 1)[0]
    # carol sees the To line as any Bcc recipient does, but no envelope line for alice.
    assert [ln for ln in head_carol.splitlines() if b"alice" in ln] == [
        f"To: {alice.address}, {bob.address}".encode()
    ]
    assert f"Delivered-To: {carol.address}".encode() in head_carol
    assert to_alice.endswith(b"\n\nsee you\n") and to_carol.endswith(b"\n\nsee you\n")


def test_it_keeps_bcc_private_over_lmtp(dovecot, mail_user, domain):
    DeliveryTarget.objects.create(
        name=f"dovecot-{uuid.uuid4().hex[:6]}", kind="lmtp", host="127.0.0.1",
        port=dovecot.lmtp_port, recipient_form="localpart", is_default=True,
    )
    alice, bob, carol = (dovecot.add_user()[0] for _ in range(3))
    boxes = {n: make_mailbox(f"{n}@{domain}") for n in (alice, bob, carol)}
    mail = bcc_message(*(boxes[n].address for n in (alice, bob, carol)), "bcc-lmtp")

    run = run_catchall(dovecot, mail_user, boxes[alice], mail)

    assert run.delivered == 2
    assert dovecot.messages(bob) == []
    [to_alice], [to_carol] = dovecot.messages(alice), dovecot.messages(carol)
    assert carol.encode() not in to_alice
    head_carol = to_carol.split(b"\n\n", 1)[0]
    assert [ln for ln in head_carol.splitlines() if alice.encode() in ln] == [
        f"To: {boxes[alice].address}, {boxes[bob].address}".encode()
    ]


def test_it_keeps_the_remote_login_name_out_of_trace_headers(dovecot, mail_user, domain):
    ann, bob = make_mailbox(f"ann@{domain}"), make_mailbox(f"bob@{domain}")
    mail = f"To: {ann.address}, {bob.address}\nMessage-ID: <login@out.test>\n\nhi\n".encode()

    run = run_catchall(dovecot, mail_user, ann, mail)

    for box in (ann, bob):
        [copy] = local_messages(box)
        received = copy.split(b"\n\t", 1)[0]
        assert received == f"Received: from localhost (pop3, account {run.account_id})".encode()
        assert mail_user[0].encode() not in copy
