"""The LMTP backend against a real Dovecot (and a scripted server for what Dovecot won't do).

Dovecot's LMTP recipients are bare usernames. What Dovecot stores is
"Return-Path, Delivered-To, Received" (its own) followed by exactly the
bytes we sent, so byte-exactness is checked from our trace line on.
"""

import io
import socket
from datetime import UTC, datetime

import pytest

from delivery.backends import LmtpBackend, LmtpSettings, Recipient, trace_headers
from delivery.backends.session import CHUNK, DotStuffer
from tests.dovecot import Dovecot, serving
from tests.fakeserver import FakeServer

TRACE = trace_headers("pop3 mail.example.test (account 7)", when=datetime(2026, 1, 2, tzinfo=UTC))
MESSAGE = (
    b"From: Alice <alice@example.test>\nTo: team@example.test\nSubject: hello\n"
    b"Message-ID: <lmtp-test@example.test>\n\nfirst line\n.leading dot\n..two dots\n.\nlast\n"
)


class Prefixes:
    """A prefix_for that remembers how it was called."""

    def __init__(self):
        self.calls = []

    def __call__(self, recipient):
        self.calls.append(recipient)
        return TRACE


def backend(dovecot, **overrides) -> LmtpBackend:
    values = dict(host=dovecot.host, port=dovecot.lmtp_port, timeout=10, helo_name="popadmin.test")
    values.update(overrides)
    return LmtpBackend(LmtpSettings(**values))


def send(lmtp, recipients, message=MESSAGE, sender="alice@example.test", prefixes=None):
    prefixes = prefixes or Prefixes()
    rcpts = [Recipient(r) for r in recipients]
    return lmtp.deliver(io.BytesIO(message), len(message), sender, rcpts, prefixes)


def what_we_sent(stored: bytes) -> bytes:
    """The stored copy from our Received line on; Dovecot's own headers come before it."""
    at = stored.index(TRACE)
    assert stored[:at].startswith(b"Return-Path: <"), stored[:at]
    return stored[at:]


def statuses(outcomes):
    return [(o.recipient, o.status, o.mailbox_full) for o in outcomes]


def test_one_transaction_delivers_to_three_users(dovecot):
    users = [dovecot.add_user()[0] for _ in range(3)]
    prefixes = Prefixes()

    outcomes = send(backend(dovecot), users, prefixes=prefixes)

    assert statuses(outcomes) == [(u, "delivered", False) for u in users]
    assert all(o.detail.startswith("250 2.0.0") and "Saved" in o.detail for o in outcomes)
    # One shared trace prefix for the single transaction (see base.py).
    assert prefixes.calls == [None]
    session_ids = set()
    for user in users:
        (stored,) = dovecot.messages(user)
        assert what_we_sent(stored) == TRACE + MESSAGE
        # Dovecot adds Delivered-To only when a transaction has one recipient,
        # so a copy never names the others.
        assert b"Delivered-To:" not in stored
        # Dovecot's Received line names its LMTP session: the same one for all.
        session_ids.add(stored.split(b"\tid ", 1)[1].split(b"\n", 1)[0])
    assert len(session_ids) == 1, session_ids


def test_unknown_recipient_is_permanent_and_the_others_delivered(dovecot):
    first, last = dovecot.add_user()[0], dovecot.add_user()[0]

    outcomes = send(backend(dovecot), [first, "nobody-here", last])

    assert statuses(outcomes) == [
        (first, "delivered", False),
        ("nobody-here", "permanent", False),
        (last, "delivered", False),
    ]
    assert outcomes[1].detail.startswith("RCPT TO refused: 550 5.1.1")
    assert "doesn't exist" in outcomes[1].detail
    assert len(dovecot.messages(first)) == len(dovecot.messages(last)) == 1


def test_eight_bit_and_dot_lines_arrive_byte_exact(dovecot):
    user = dovecot.add_user()[0]
    body = b"".join(
        [
            b"Subject: =?utf-8?q?caf=C3=A9?=\nContent-Transfer-Encoding: 8bit\n\n",
            "café, naïve, Grüße, 日本語\n".encode(),
            b"latin-1 \xe9\xe8 and raw \x80\xff bytes\n",
            b".\n..\n...\n. space\n.\n",
            b"tab\tand trailing spaces   \n\n\n",
        ]
    )
    # A dot line at each spool chunk boundary: the only place the encoder
    # carries state from one chunk to the next.
    filler = b"x" * 99 + b"\n"
    message = body + filler * ((CHUNK - len(body)) // len(filler))
    message += b"y" * (CHUNK - len(message) - 1) + b"\n"
    message += b".at the boundary\n" + filler * 3000 + b".end\n"
    assert message[CHUNK : CHUNK + 1] == b"."

    outcomes = send(backend(dovecot), [user], message=message)

    assert outcomes[0].status == "delivered", outcomes
    (stored,) = dovecot.messages(user)
    assert what_we_sent(stored) == TRACE + message


def test_last_line_without_newline_gets_one(dovecot):
    user = dovecot.add_user()[0]
    outcomes = send(backend(dovecot), [user], message=b"Subject: x\n\nno newline at the end")
    assert outcomes[0].status == "delivered"
    (stored,) = dovecot.messages(user)
    assert what_we_sent(stored) == TRACE + b"Subject: x\n\nno newline at the end\n"


@pytest.mark.parametrize(
    "sender, return_path",
    [
        ("bob@example.test", b"<bob@example.test>"),
        ("<bob@example.test>", b"<bob@example.test>"),
        ("", b"<>"),
        ("<>", b"<>"),
        # From a hostile Return-Path: must not become a second command.
        ("evil@example.test>\r\nRCPT TO:<victim", b"<>"),
    ],
)
def test_envelope_sender(dovecot, sender, return_path):
    user = dovecot.add_user()[0]
    outcomes = send(backend(dovecot), [user], sender=sender)
    assert outcomes[0].status == "delivered"
    (stored,) = dovecot.messages(user)
    assert stored.startswith(b"Return-Path: " + return_path + b"\n")


def test_unsafe_recipient_never_reaches_the_server(dovecot):
    user = dovecot.add_user()[0]
    outcomes = send(backend(dovecot), [f"{user}>\r\nRSET", "bad\udcff@x", user])
    assert [o.status for o in outcomes] == ["permanent", "permanent", "delivered"]
    assert "invalid recipient address" in outcomes[0].detail
    assert len(dovecot.messages(user)) == 1


def test_unix_socket(dovecot):
    user = dovecot.add_user()[0]
    lmtp = LmtpBackend(LmtpSettings(socket_path=str(dovecot.root / "run" / "lmtp"), timeout=10))
    outcomes = send(lmtp, [user])
    assert statuses(outcomes) == [(user, "delivered", False)]
    (stored,) = dovecot.messages(user)
    assert what_we_sent(stored) == TRACE + MESSAGE
    assert f"\nDelivered-To: {user}\n".encode() in stored  # one recipient: Dovecot adds it


def test_connection_refused_is_temporary_for_everyone(dovecot):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once it is closed
    outcomes = send(backend(dovecot, port=port), ["a", "b"])
    assert [o.status for o in outcomes] == ["temporary", "temporary"]
    where = f"127.0.0.1:{port}"
    assert outcomes[0].detail == f"LMTP server {where}: connection refused by {where}"


def test_missing_socket_is_temporary(tmp_path):
    path = tmp_path / "no-such-socket"
    outcomes = send(LmtpBackend(LmtpSettings(socket_path=str(path), timeout=2)), ["a"])
    assert outcomes[0].status == "temporary"
    assert "no such socket" in outcomes[0].detail


# -- quota, on a second real Dovecot with the quota plugin -------------------

QUOTA_CONFIG = """
mail_plugins = $mail_plugins quota
# Also check at RCPT, so a mailbox already over quota is refused before DATA.
lmtp_rcpt_check_quota = yes
# yes: 452 4.2.2 (try again later); no: 552 5.2.2 (give up).
quota_full_tempfail = {tempfail}
plugin {{
  quota = maildir:User quota
  quota_rule = *:storage=4K
}}
"""


class QuotaDovecot(Dovecot):
    tempfail = "yes"

    def _write_config(self):
        super()._write_config()
        with open(self.conf, "a") as f:
            f.write(QUOTA_CONFIG.format(tempfail=self.tempfail))


@pytest.fixture(scope="module", params=["yes", "no"], ids=["tempfail", "permfail"])
def quota_dovecot(request):
    server = QuotaDovecot()
    server.tempfail = request.param
    with serving(server):
        yield server


def test_full_mailboxes_at_rcpt_and_after_data(quota_dovecot):
    dovecot = quota_dovecot
    over, nearly, roomy = (dovecot.add_user()[0] for _ in range(3))
    dovecot.deliver(over, b"Subject: big\n\n" + b"x" * 5000 + b"\n")  # over 4K already
    dovecot.deliver(nearly, b"Subject: big\n\n" + b"x" * 3500 + b"\n")  # 1K more won't fit
    message = MESSAGE + b"z" * 1000 + b"\n"

    outcomes = send(backend(dovecot), [over, nearly, roomy], message=message)

    tempfail = dovecot.tempfail == "yes"
    status, code = ("temporary", "452 4.2.2") if tempfail else ("permanent", "552 5.2.2")
    assert statuses(outcomes) == [
        (over, status, True),
        (nearly, status, True),
        (roomy, "delivered", False),
    ]
    assert outcomes[0].detail.startswith(f"RCPT TO refused: {code}")
    assert outcomes[1].detail.startswith(f"message refused: {code}")
    assert "Quota exceeded" in outcomes[1].detail
    assert len(dovecot.messages(over)) == len(dovecot.messages(nearly)) == 1
    assert what_we_sent(dovecot.messages(roomy)[0]) == TRACE + message


# -- faults a real server won't produce on demand ----------------------------


def scripted_lmtp(final_replies, rcpt_replies=None, then="hang up"):
    """An LMTP server that answers the final "." with `final_replies`, then hangs up or stalls."""

    def handler(conn):
        conn.sendline("220 fake LMTP ready")
        while (line := conn.readline()) is not None:
            verb = line.split(b":")[0].split(b" ")[0].upper()
            if verb == b"LHLO":
                conn.send(b"250-fake\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT":
                address = line.split(b"<", 1)[1].rstrip(b">").decode()
                conn.sendline((rcpt_replies or {}).get(address, "250 2.1.5 OK"))
            elif verb == b"DATA":
                conn.sendline("354 go ahead")
                while conn.readline() not in (b".", None):
                    pass
                for reply in final_replies:
                    conn.sendline(reply)
                if then == "stall":
                    conn.sleep(10)
                return
            elif verb == b"QUIT":
                conn.sendline("221 bye")
                return
            else:
                conn.sendline("250 2.0.0 OK")

    return FakeServer(handler)


def fake_backend(server, timeout=5) -> LmtpBackend:
    return LmtpBackend(LmtpSettings(host="127.0.0.1", port=server.port, timeout=timeout))


def test_connection_dropped_after_data_settles_only_the_confirmed():
    with scripted_lmtp(["250 2.0.0 <a> Saved"]) as server:
        outcomes = send(fake_backend(server), ["a", "b", "c"])
    assert [o.status for o in outcomes] == ["delivered", "temporary", "temporary"]
    assert "connection closed by server" in outcomes[1].detail
    assert "no confirmation after the message was sent" in outcomes[1].detail
    # SIZE was advertised: the CRLF size of trace + message.
    mail = next(line for line in server.received if line.startswith(b"MAIL"))
    wire = len(TRACE + MESSAGE) + (TRACE + MESSAGE).count(b"\n")
    assert mail == b"MAIL FROM:<alice@example.test> SIZE=%d" % wire


def test_mixed_final_replies_and_rcpt_tempfail():
    replies = ["452 4.2.2 <a> Mailbox is full", "550 5.7.1 <c> rejected by policy"]
    rcpt = {"b": "451 4.3.0 try again later"}
    with scripted_lmtp(replies, rcpt_replies=rcpt) as server:
        outcomes = send(fake_backend(server), ["a", "b", "c"])
    assert statuses(outcomes) == [
        ("a", "temporary", True),
        ("b", "temporary", False),
        ("c", "permanent", False),
    ]
    assert outcomes[0].detail == "message refused: 452 4.2.2 <a> Mailbox is full"
    assert outcomes[1].detail == "RCPT TO refused: 451 4.3.0 try again later"


def test_no_answer_after_data_is_temporary():
    with scripted_lmtp([], then="stall") as server:
        outcomes = send(fake_backend(server, timeout=1), ["a"])
    assert outcomes[0].status == "temporary"
    assert "no answer from server for 1 s" in outcomes[0].detail


def test_no_data_when_every_recipient_is_refused():
    rcpt = {"a": "550 5.1.1 no such user", "b": "550 5.1.1 no such user"}
    with scripted_lmtp([], rcpt_replies=rcpt) as server:
        outcomes = send(fake_backend(server), ["a", "b"])
    assert [o.status for o in outcomes] == ["permanent", "permanent"]
    assert b"DATA" not in server.commands()
    assert server.commands()[-1] == b"QUIT"


def test_dot_stuffing_does_not_depend_on_chunk_boundaries():
    message = b".a\n..b\nc\n.\n\n.d\ne.\n.."
    expected = b"..a\r\n...b\r\nc\r\n..\r\n\r\n..d\r\ne.\r\n...\r\n.\r\n"
    for size in (1, 2, 3, 5, len(message)):
        stuffer = DotStuffer()
        out = b"".join(stuffer.feed(message[i : i + size]) for i in range(0, len(message), size))
        assert out + stuffer.finish() == expected, size
