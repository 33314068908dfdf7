"""The delivery contract, run over every backend: Maildir, LMTP into the real
Dovecot, SMTP into a real aiosmtpd relay. Each backend is built the way the
Router builds it: from a DeliveryTarget through the registry.
"""

import io
import socket
import uuid

import pytest

from delivery.backends import BACKENDS, Backend, Recipient, trace_headers
from delivery.targets import DeliveryTarget, backend_for
from tests.append_helpers import imap_target
from tests.smtpserver import SmtpServer

DOMAIN = "contract.test"
SOURCE = "pop.example.test (pop3, account 1)"
TOKEN = "0123456789abcdef" * 2
MESSAGE = (
    b"From: Ann <ann@example.test>\nTo: team@contract.test\nSubject: contract\n"
    b"Message-ID: <contract@example.test>\n\nbody \xc3\xa9\n.leading dot\nlast\n"
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MaildirDestination:
    def __init__(self, settings, tmp_path):
        self.root = tmp_path / "mail"
        settings.MAIL_ROOT = self.root

    def target(self):
        return None  # no target at all: the built-in Maildir

    def new_recipient(self) -> Recipient:
        return Recipient(f"u{uuid.uuid4().hex[:8]}@{DOMAIN}")

    def refused_recipient(self) -> Recipient:
        return Recipient(f"..@{DOMAIN}")  # its Maildir would not be a folder of its own

    def full_recipient(self) -> Recipient:
        recipient = Recipient(f"u{uuid.uuid4().hex[:8]}@{DOMAIN}", quota=1024 * 1024)
        local, _, domain = recipient.address.rpartition("@")
        (self.root / domain / local / "cur").mkdir(parents=True)
        (self.root / domain / local / "cur" / "1.M1P1.host,S=1048570:2,S").write_bytes(b"x")
        return recipient

    def break_it(self, settings):
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.root.write_bytes(b"a file where the mail root should be")

    def stored(self, recipient: Recipient) -> list[bytes]:
        local, _, domain = recipient.address.rpartition("@")
        new = self.root / domain / local / "new"
        return [p.read_bytes() for p in sorted(new.iterdir())] if new.is_dir() else []


class LmtpDestination:
    def __init__(self, dovecot):
        self.dovecot = dovecot
        self.port = dovecot.lmtp_port

    def target(self):
        # Dovecot's users are bare names: the target sends the local part.
        return DeliveryTarget(kind="lmtp", host="127.0.0.1", port=self.port,
                              recipient_form="localpart", timeout_seconds=10)

    def new_recipient(self) -> Recipient:
        return Recipient(f"{self.dovecot.add_user()[0]}@{DOMAIN}")

    def refused_recipient(self) -> Recipient:
        return Recipient(f"nosuchuser-{uuid.uuid4().hex[:6]}@{DOMAIN}")

    def break_it(self, settings):
        self.port = closed_port()

    def stored(self, recipient: Recipient) -> list[bytes]:
        return self.dovecot.messages(recipient.address.rpartition("@")[0])


class SmtpDestination:
    def __init__(self, server):
        self.server = server
        self.port = server.port

    def target(self):
        return DeliveryTarget(kind="smtp", host="127.0.0.1", port=self.port,
                              security="none", timeout_seconds=10)

    def new_recipient(self) -> Recipient:
        return Recipient(f"u{uuid.uuid4().hex[:8]}@{DOMAIN}")

    def refused_recipient(self) -> Recipient:
        address = f"nobody-{uuid.uuid4().hex[:6]}@{DOMAIN}"
        self.server.rcpt_replies[address] = "550 5.1.1 User unknown"
        return Recipient(address)

    def full_recipient(self) -> Recipient:
        address = f"full-{uuid.uuid4().hex[:6]}@{DOMAIN}"
        self.server.rcpt_replies[address] = "452 4.2.2 Mailbox full"
        return Recipient(address)

    def break_it(self, settings):
        self.port = closed_port()

    def stored(self, recipient: Recipient) -> list[bytes]:
        return [r.content.replace(b"\r\n", b"\n") for r in self.server.received
                if recipient.address in r.rcpt_tos]


class ImapDestination:
    """One IMAP mailbox: every recipient routed to the target shares it, and a
    message is appended once per call, so each recipient sees exactly one copy."""

    def __init__(self, server, settings):
        self.server = server
        self.user, self.password = server.add_user()
        self.port = server.imaps_port
        settings.POPADMIN_CA_FILE = str(server.ca_file)

    def target(self):
        target = imap_target(self.server, self.user, self.password, security="tls", save=False)
        target.port = self.port
        return target

    def new_recipient(self) -> Recipient:
        return Recipient(f"u{uuid.uuid4().hex[:8]}@{DOMAIN}")

    def break_it(self, settings):
        self.port = closed_port()

    def stored(self, recipient: Recipient) -> list[bytes]:
        return self.server.messages(self.user)


@pytest.fixture(params=["maildir", "lmtp", "smtp", "imap"])
def destination(request, settings, tmp_path):
    if request.param == "imap":
        yield ImapDestination(request.getfixturevalue("append_dovecot"), settings)
    elif request.param == "maildir":
        yield MaildirDestination(settings, tmp_path)
    elif request.param == "lmtp":
        yield LmtpDestination(request.getfixturevalue("dovecot"))
    else:
        with SmtpServer() as server:
            yield SmtpDestination(server)


def deliver(destination, recipients, message=MESSAGE):
    backend = backend_for(destination.target())
    try:
        outcomes = backend.deliver(
            io.BytesIO(message), len(message), "ann@example.test", recipients,
            lambda address: trace_headers(SOURCE, address), token=TOKEN,
        )
        backend.flush()  # the contract: copies are durable and in place after flush()
        return backend, outcomes
    finally:
        backend.close()


def test_the_registry_names_each_backend_by_its_kind():
    assert set(BACKENDS) == {"maildir", "lmtp", "smtp", "imap"}
    for kind, backend in BACKENDS.items():
        assert issubclass(backend, Backend) and backend.name == kind and backend.label
    assert [value for value, _ in DeliveryTarget.Kind.choices] == list(BACKENDS)


def test_it_delivers_to_every_recipient_with_one_outcome_each(destination):
    recipients = [destination.new_recipient() for _ in range(3)]

    backend, outcomes = deliver(destination, recipients)

    assert [o.status for o in outcomes] == ["delivered"] * 3
    assert not any(o.mailbox_full for o in outcomes)
    for recipient in recipients:
        [stored] = destination.stored(recipient)
        assert stored.endswith(MESSAGE)  # byte for byte, dots and 8-bit included
    assert backend.name == (destination.target().kind if destination.target() else "maildir")


def test_every_copy_carries_our_trace_header(destination):
    [recipient] = [destination.new_recipient()]

    deliver(destination, [recipient])

    [stored] = destination.stored(recipient)
    head = stored[: stored.index(MESSAGE)].decode()
    assert f"Received: from {SOURCE}\n\tby popadmin" in head
    # Only a copy of one's own names its recipient; a shared transaction names nobody.
    assert head.count("by popadmin for <") <= 1
    assert "by popadmin for <" not in head or recipient.address in head


# IMAP APPEND has no recipients to refuse: it stores into the one mailbox it logs in to.
@pytest.mark.parametrize("destination", ["maildir", "lmtp", "smtp"], indirect=True)
def test_a_refused_recipient_is_permanent_and_the_others_are_delivered(destination):
    good, bad = destination.new_recipient(), destination.refused_recipient()

    _, outcomes = deliver(destination, [good, bad])

    assert [o.status for o in outcomes] == ["delivered", "permanent"]
    assert outcomes[1].detail  # says why, in words
    assert len(destination.stored(good)) == 1


def test_a_destination_out_of_reach_is_a_temporary_failure_that_stores_nothing(
    destination, settings
):
    recipients = [destination.new_recipient() for _ in range(2)]
    destination.break_it(settings)

    _, outcomes = deliver(destination, recipients)  # never raises

    assert [o.status for o in outcomes] == ["temporary", "temporary"]
    assert all(o.detail for o in outcomes)
    assert all(destination.stored(r) == [] for r in recipients)


def test_no_backend_claims_a_copy_it_does_not_have(destination):
    recipient = destination.new_recipient()
    backend = backend_for(destination.target())

    assert not backend.already_delivered(recipient, "", TOKEN)
    assert not backend.already_delivered(recipient, "", "")
    backend.close()


@pytest.mark.parametrize("destination", ["maildir", "smtp"], indirect=True)
def test_a_full_mailbox_is_temporary_and_says_so(destination):
    # LMTP: tests/test_backend_lmtp.py runs this on a Dovecot with the quota plugin.
    full, roomy = destination.full_recipient(), destination.new_recipient()

    _, outcomes = deliver(destination, [full, roomy])

    assert [(o.status, o.mailbox_full) for o in outcomes] == [
        ("temporary", True), ("delivered", False)
    ]
    assert destination.stored(full) == []
