"""The SMTP relay backend against a real SMTP server (aiosmtpd, tests/smtpserver.py).

The server's certificate comes from a throwaway CA (the same helper the
Dovecot fixture uses), trusted through ca_file; AUTH is offered only after
TLS, as real relays do.
"""

import base64
import io
import socket
import ssl
from datetime import UTC, datetime

import pytest

from delivery.backends import Recipient, SmtpBackend, SmtpSettings, trace_headers
from delivery.backends.session import Reply
from tests.dovecot import write_tls
from tests.fakeserver import FakeServer
from tests.smtpserver import SmtpServer

PASSWORD = 'pä ss"w0rd\\:x'
TRACE = trace_headers("imap mail.example.test (account 3)", when=datetime(2026, 1, 2, tzinfo=UTC))
MESSAGE = (
    b"From: Alice <alice@example.test>\nTo: team@example.test\nSubject: relay\n\n"
    b".leading dot\n..two dots\n.\ncaf\xc3\xa9 8-bit\nlast line\n"
)
RECIPIENTS = ["a@example.test", "b@example.test", "c@example.test"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """(server context, ca_file) for a certificate valid for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    ca_file = write_tls(folder, "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return context, str(ca_file)


def relay(server, **overrides) -> SmtpBackend:
    values = dict(host="127.0.0.1", port=server.port, timeout=5, helo_name="popadmin.test")
    values.update(overrides)
    return SmtpBackend(SmtpSettings(**values))


def send(backend, recipients=RECIPIENTS, message=MESSAGE, sender="alice@example.test"):
    calls = []

    def prefix_for(recipient):
        calls.append(recipient)
        return TRACE

    rcpts = [Recipient(r) for r in recipients]
    outcomes = backend.deliver(io.BytesIO(message), len(message), sender, rcpts, prefix_for)
    assert calls in ([], [None])  # one shared prefix per transaction, if it got that far
    return outcomes


def statuses(outcomes):
    return [(o.recipient, o.status, o.mailbox_full) for o in outcomes]


def wire_size(data: bytes) -> int:
    return len(data) + data.count(b"\n")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_delivered_with_starttls_and_auth(tls, mechanism):
    context, ca_file = tls
    excluded = ("PLAIN",) if mechanism == "LOGIN" else ("LOGIN",)
    users = {"relay": PASSWORD}
    with SmtpServer(starttls=context, users=users, mechanisms_excluded=excluded) as server:
        backend = relay(
            server, security="starttls", ca_file=ca_file, username="relay", password=PASSWORD
        )
        outcomes = send(backend)

    assert statuses(outcomes) == [(r, "delivered", False) for r in RECIPIENTS]
    assert outcomes[0].detail == "250 2.0.0 Ok: queued"
    (got,) = server.received
    assert got.tls and got.authenticated
    assert server.logins == [("relay", True)]
    assert got.mail_from == "alice@example.test"
    assert got.rcpt_tos == RECIPIENTS
    # What the relay has is ours byte for byte, in CRLF, with the dots unstuffed.
    assert got.content == (TRACE + MESSAGE).replace(b"\n", b"\r\n")
    assert got.mail_options == [f"SIZE={wire_size(TRACE + MESSAGE)}", "BODY=8BITMIME"]
    assert server.commands == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL"] + ["RCPT"] * 3 + [
        "DATA",
        "QUIT",
    ]


def test_implicit_tls_without_auth(tls):
    context, ca_file = tls
    with SmtpServer(implicit_tls=context) as server:
        outcomes = send(relay(server, security="tls", ca_file=ca_file), recipients=["a@x.test"])
    assert statuses(outcomes) == [("a@x.test", "delivered", False)]
    assert server.received[0].tls
    assert server.commands == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]


def test_starttls_required_but_not_offered_sends_nothing():
    with SmtpServer(users={"relay": PASSWORD}) as server:
        backend = relay(server, security="starttls", username="relay", password=PASSWORD)
        outcomes = send(backend)
    assert [o.status for o in outcomes] == ["temporary"] * 3
    assert "does not offer STARTTLS, which the settings require" in outcomes[0].detail
    assert server.commands == ["EHLO", "QUIT"]
    assert server.logins == [] and server.received == []


def test_untrusted_certificate_is_temporary(tls):
    context, _ = tls
    with SmtpServer(starttls=context, users={"relay": PASSWORD}) as server:
        # No ca_file: the throwaway CA is not in the system store.
        backend = relay(server, security="starttls", username="relay", password=PASSWORD)
        outcomes = send(backend)
    assert [o.status for o in outcomes] == ["temporary"] * 3
    detail = outcomes[0].detail
    assert detail.startswith(f"SMTP relay 127.0.0.1:{server.port}: TLS certificate of 127.0.0.1")
    assert "is not trusted" in detail
    assert "AUTH" not in server.commands and "MAIL" not in server.commands


def test_verification_can_be_switched_off(tls):
    context, _ = tls
    with SmtpServer(starttls=context) as server:
        outcomes = send(relay(server, security="starttls", verify_tls=False))
    assert [o.status for o in outcomes] == ["delivered"] * 3


def test_mailbox_full_at_data_is_temporary():
    with SmtpServer() as server:
        server.data_reply = "452 4.2.2 Mailbox is full"
        outcomes = send(relay(server, security="none"))
    assert statuses(outcomes) == [(r, "temporary", True) for r in RECIPIENTS]
    assert outcomes[0].detail == "message refused: 452 4.2.2 Mailbox is full"


def test_permanent_refusal_at_data():
    with SmtpServer() as server:
        server.data_reply = "554 5.7.1 Message rejected as spam"
        outcomes = send(relay(server, security="none"))
    assert statuses(outcomes) == [(r, "permanent", False) for r in RECIPIENTS]


def test_one_refused_recipient_is_permanent_the_others_delivered():
    with SmtpServer() as server:
        server.rcpt_replies["b@example.test"] = "550 5.1.1 <b@example.test>: User unknown"
        outcomes = send(relay(server, security="none"))
    assert statuses(outcomes) == [
        ("a@example.test", "delivered", False),
        ("b@example.test", "permanent", False),
        ("c@example.test", "delivered", False),
    ]
    assert outcomes[1].detail == "RCPT TO refused: 550 5.1.1 <b@example.test>: User unknown"
    assert server.received[0].rcpt_tos == ["a@example.test", "c@example.test"]


def test_message_over_the_size_limit_is_refused_at_mail_from():
    with SmtpServer(size_limit=100) as server:
        outcomes = send(relay(server, security="none"))
    assert statuses(outcomes) == [(r, "permanent", False) for r in RECIPIENTS]
    assert "MAIL FROM refused: 552" in outcomes[0].detail
    assert "RCPT" not in server.commands


def test_wrong_password_is_temporary_and_never_shown(tls):
    context, ca_file = tls
    with SmtpServer(starttls=context, users={"relay": "the-right-one"}) as server:
        backend = relay(
            server, security="starttls", ca_file=ca_file, username="relay", password=PASSWORD
        )
        outcomes = send(backend)
    assert [o.status for o in outcomes] == ["temporary"] * 3
    detail = outcomes[0].detail
    assert "login as 'relay' failed: 535" in detail
    assert "check the relay username and password" in detail
    assert PASSWORD not in detail and PASSWORD not in repr(backend.settings)
    assert "MAIL" not in server.commands


def test_password_is_never_sent_in_clear():
    with SmtpServer() as server:
        outcomes = send(relay(server, security="none", username="relay", password=PASSWORD))
    assert [o.status for o in outcomes] == ["temporary"] * 3
    assert "refusing to send the relay password over an unencrypted connection" in (
        outcomes[0].detail
    )
    assert "AUTH" not in server.commands and "MAIL" not in server.commands


def test_password_echoed_by_the_server_is_masked(tls):
    """A server quoting back what it was sent must not put the secret into the history."""
    context, ca_file = tls

    def handler(conn):
        conn.sendline("220 echo.test ESMTP")
        while (line := conn.readline()) is not None:
            verb = line.split(b" ")[0].upper()
            if verb == b"EHLO":
                extensions = b"250 AUTH PLAIN" if conn.tls else b"250 STARTTLS"
                conn.send(b"250-echo.test\r\n" + extensions + b"\r\n")
            elif verb == b"STARTTLS":
                conn.sendline("220 go ahead")
                conn.starttls(context)
            elif verb == b"AUTH":
                token = line.split(b" ")[2]
                conn.sendline(b"535 5.7.8 bad: " + token + b" = " + PASSWORD.encode())
            else:
                conn.sendline("221 bye")
                return

    with FakeServer(handler) as server:
        backend = relay(
            server, security="starttls", ca_file=ca_file, username="relay", password=PASSWORD
        )
        outcomes = send(backend, recipients=["a@x.test"])
    detail = outcomes[0].detail
    token = base64.b64encode(b"\0relay\0" + PASSWORD.encode()).decode()
    assert outcomes[0].status == "temporary"
    assert token not in detail and PASSWORD not in detail, detail
    assert "535 5.7.8 bad: *** = " in detail


def test_utf8_addresses_use_smtputf8():
    with SmtpServer() as server:
        outcomes = send(
            relay(server, security="none"), recipients=["jösé@exämple.test"], sender="ñ@x.test"
        )
    assert outcomes[0].status == "delivered", outcomes
    assert "SMTPUTF8" in server.received[0].mail_options
    assert server.received[0].rcpt_tos == ["jösé@exämple.test"]


def test_connection_refused_is_temporary():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = SmtpBackend(SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=2))
    outcomes = send(backend, recipients=["a@x.test"])
    assert outcomes[0].status == "temporary"
    assert "connection refused" in outcomes[0].detail


@pytest.mark.parametrize(
    "code, text, full",
    [
        (452, "4.2.2 Mailbox is full", True),
        (552, "5.2.2 <u> Quota exceeded (mailbox for user is full)", True),
        (550, "5.2.2 over quota", True),
        (452, "Mailbox full, try later", True),  # no enhanced code: the words decide
        (552, "Quota exceeded", True),
        (452, "4.5.3 Too many recipients", False),
        (552, "5.3.4 Message size exceeds fixed limit", False),
        (452, "4.3.1 Insufficient system storage", False),
        (550, "5.1.1 User unknown", False),
        (250, "2.0.0 full of joy", False),
    ],
)
def test_mailbox_full_detection(code, text, full):
    assert Reply(code, (text,)).mailbox_full is full
