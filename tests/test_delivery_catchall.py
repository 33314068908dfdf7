"""Catch-all ("virtual POP3") accounts through the engine into Maildirs."""

import uuid

import pytest

from delivery.models import Delivery
from retrieval import engine
from retrieval.models import GlobalSettings, Run
from tests.factories import local_messages, make_account, make_mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def domain_settings():
    # A fresh domain per test: the Maildirs under MAIL_ROOT live for the session.
    gs = GlobalSettings.load()
    gs.accepted_domains = [DOMAIN.domain]
    gs.reroute_unknown = False
    gs.save()
    return gs


class _Domain:
    domain = "corp.test"

    def fresh(self):
        self.domain = f"corp-{uuid.uuid4().hex[:8]}.test"


DOMAIN = _Domain()


@pytest.fixture(autouse=True)
def fresh_domain():
    DOMAIN.fresh()


def m(text: str) -> str:
    return text.replace("corp.test", DOMAIN.domain).replace("Corp.Test", DOMAIN.domain.title())


def message(headers: str, body: str = "hello\n") -> bytes:
    return m(headers.strip() + "\n\n" + body).encode()


def catchall(dovecot, user, owner=None):
    return make_account(dovecot, *user, mode="catchall", owner=owner)


def test_it_gives_each_recipient_one_copy_of_a_triplicated_message(
    dovecot, mail_user, domain_settings
):
    users = [make_mailbox(m(f"{n}@corp.test")) for n in ("ann", "bob", "cy")]
    mail = message("From: x@out.test\nTo: ann@corp.test, bob@corp.test\nCc: CY@Corp.Test\n"
                   "Message-ID: <tri@out.test>\nSubject: three")
    for _ in range(3):  # the provider's catch-all box holds one copy per recipient
        dovecot.deliver(mail_user[0], mail)
    account = catchall(dovecot, mail_user, owner=users[0])

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.OK, run.error
    assert (run.fetched, run.delivered, run.duplicates, run.deleted) == (3, 3, 6, 3)
    assert [len(local_messages(u)) for u in users] == [1, 1, 1]
    assert dovecot.messages(mail_user[0]) == []


def test_it_maps_aliases_and_reroutes_unknown_recipients(dovecot, mail_user, domain_settings):
    domain_settings.reroute_unknown = True
    domain_settings.save()
    ann = make_mailbox(m("ann@corp.test"), aliases=[m("sales@corp.test")])
    postmaster = make_mailbox(m("postmaster@corp.test"), is_postmaster=True)
    dovecot.deliver(mail_user[0], message(
        "To: Sales <SALES@corp.test>, nobody@corp.test, someone@elsewhere.test\n"
        "Message-ID: <alias@out.test>"))
    account = catchall(dovecot, mail_user, owner=ann)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 2, run.notes
    assert len(local_messages(ann)) == 1 and len(local_messages(postmaster)) == 1


def test_it_drops_unknown_recipients_when_not_rerouting_and_says_so(
    dovecot, mail_user, domain_settings
):
    ann = make_mailbox(m("ann@corp.test"))
    dovecot.deliver(mail_user[0], message(
        "To: ann@corp.test, ghost@corp.test\nMessage-ID: <drop@out.test>"))
    account = catchall(dovecot, mail_user, owner=make_mailbox(m("owner@corp.test")))

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 1 and len(local_messages(ann)) == 1
    assert any(m("ghost@corp.test") in note for note in run.notes)


def test_it_never_drops_a_message_without_an_accepted_recipient(
    dovecot, mail_user, domain_settings
):
    owner = make_mailbox(m("owner@corp.test"))
    dovecot.deliver(mail_user[0], message("To: list@elsewhere.test\nMessage-ID: <none@o.test>"))
    account = catchall(dovecot, mail_user, owner=owner)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 1 and len(local_messages(owner)) == 1


def test_it_does_not_deliver_a_looping_message_again(dovecot, mail_user, domain_settings):
    ann, bob = make_mailbox(m("ann@corp.test")), make_mailbox(m("bob@corp.test"))
    # What our own delivery to ann wrote, coming back through the catch-all box.
    trace = ("Received: from pop.out.test\n\tby popadmin for <ann@corp.test>; "
             "Sun, 22 Nov 2026 10:00:00 +0000\nDelivered-To: ann@corp.test\n")
    dovecot.deliver(mail_user[0], message(
        trace + "To: ann@corp.test, bob@corp.test\nMessage-ID: <loop@out.test>"))
    account = catchall(dovecot, mail_user, owner=ann)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert local_messages(ann) == [] and len(local_messages(bob)) == 1
    assert run.delivered == 1


def test_it_caps_recipients_per_message_with_a_note(dovecot, mail_user, domain_settings):
    domain_settings.max_recipients = 2
    domain_settings.save()
    boxes = [make_mailbox(m(f"r{n}@corp.test")) for n in range(4)]
    dovecot.deliver(mail_user[0], message(
        "To: " + ", ".join(b.address for b in boxes) + "\nMessage-ID: <cap@out.test>"))
    account = catchall(dovecot, mail_user, owner=boxes[0])

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 2
    assert [len(local_messages(b)) for b in boxes] == [1, 1, 0, 0]
    assert any("cap" in note for note in run.notes)


def test_it_records_where_each_copy_went(dovecot, mail_user, domain_settings):
    ann = make_mailbox(m("ann@corp.test"))
    make_mailbox(m("bob@corp.test"))
    dovecot.deliver(mail_user[0], message(
        "To: ann@corp.test, bob@corp.test\nMessage-ID: <where@out.test>"))
    account = catchall(dovecot, mail_user, owner=ann)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    rows = Delivery.objects.filter(message_id="<where@out.test>").order_by("recipient")
    assert [(r.recipient, r.result, r.backend, r.run_id) for r in rows] == [
        (m("ann@corp.test"), "delivered", "maildir", run.pk),
        (m("bob@corp.test"), "delivered", "maildir", run.pk),
    ]


def test_the_last_error_names_the_full_mailbox_not_a_catch_all_note(
    dovecot, mail_user, domain_settings
):
    # The unknown recipient's note ("… not delivered …") comes first in the run.
    ann = make_mailbox(m("ann@corp.test"), quota_mb=1)
    dovecot.deliver(mail_user[0], message(
        "To: ghost@corp.test, ann@corp.test\nMessage-ID: <big@out.test>",
        ("x" * 999 + "\n") * 1200))
    account = catchall(dovecot, mail_user, owner=make_mailbox(m("owner@corp.test")))

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.status == Run.Status.PARTIAL and not local_messages(ann), run.error
    assert "mailbox full" in run.error, run.error
    account.refresh_from_db()
    assert "mailbox full" in account.last_error
