"""The MAIL / RCPT / DATA session LMTP and SMTP share: replies, envelope, the wire.

A server's 2xx reply that covers a recipient is the only thing that makes
that recipient "delivered"; everything else becomes a temporary or permanent
Outcome with the server's words (see SessionBackend).
"""

from __future__ import annotations

import re
import socket
from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import BinaryIO

from popadmin.net.errors import ConnectError, LimitExceeded, ProtocolError
from popadmin.net.stream import LineStream
from popadmin.net.text import printable

from .base import DELIVERED, PERMANENT, TEMPORARY, Backend, Outcome

CHUNK = 256 * 1024
# RFC 5321 4.5.3.1.5 allows 512 bytes per reply line; servers sometimes send
# longer human text, so allow some room while still bounding memory.
REPLY_LINE = 4096
REPLY_LINES = 200  # an EHLO answer is ~15 lines; more is a broken or hostile server
DETAIL_LIMIT = 300


# -- replies -----------------------------------------------------------------

_REPLY = re.compile(rb"([1-5][0-9][0-9])(?:([ -])(.*))?")
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)")
# x.2.2 is "mailbox full" (RFC 3463); the words cover servers without
# enhanced codes, but only on 452/552 because e.g. "552 5.3.4 message too big"
# and "452 4.5.3 too many recipients" are not about the mailbox.
_FULL_WORDS = re.compile(r"quota|\bfull\b", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]  # text after the code, made printable

    @property
    def enhanced(self) -> str:
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        return ".".join(match.groups()) if match else ""

    @property
    def status(self) -> str:
        if 200 <= self.code < 300:
            return DELIVERED
        # 1xx/3xx where a final answer was due: the state is unknown, retry later.
        return PERMANENT if self.code >= 500 else TEMPORARY

    @property
    def mailbox_full(self) -> bool:
        if self.code < 400:
            return False
        if self.enhanced in ("4.2.2", "5.2.2"):
            return True
        if self.enhanced:
            return False  # a precise code that says something else wins over words
        return self.code in (452, 552) and bool(_FULL_WORDS.search(" ".join(self.lines)))

    @property
    def storage_full(self) -> bool:
        # x.3.1 "mail system full" (RFC 3463): the server's storage refuses every
        # message, not one mailbox (Dovecot's LMTP answers it for a full disk).
        return self.code >= 400 and self.enhanced in ("4.3.1", "5.3.1")

    def __str__(self) -> str:
        text = " ".join(line for line in self.lines if line)
        return printable(f"{self.code} {text}".strip(), DETAIL_LIMIT)


class SessionFailed(Exception):
    """The session cannot go on; every recipient not yet settled gets `status`."""

    def __init__(self, detail: str, status: str = TEMPORARY, mailbox_full: bool = False,
                 storage_full: bool = False):
        super().__init__(detail)
        self.status = status
        self.mailbox_full = mailbox_full
        self.storage_full = storage_full


def outcome(recipient: str, reply: Reply, step: str = "") -> Outcome:
    """The outcome a reply means for one recipient; `step` says where it came from."""
    detail = str(reply) if reply.status == DELIVERED or not step else f"{step}: {reply}"
    return Outcome(recipient, reply.status, detail, reply.mailbox_full,
                   storage_full=reply.storage_full)


# -- envelope addresses --------------------------------------------------------

# Anything that could end or split a command line, or the brackets around the
# address, must never reach the wire: senders come from hostile mail.
# Lone surrogates (from surrogateescape-decoded headers) cannot be encoded.
_UNSAFE = re.compile(r"[\x00-\x20<>\x7f\ud800-\udfff]")


def envelope_sender(sender: str) -> str:
    """The address for MAIL FROM:<...>; "" (null sender) when missing or unsafe.

    A Return-Path value like "<a@b>" is accepted as well. An unsafe sender is
    replaced by the null sender rather than failing: the mail still arrives,
    and bounces go nowhere instead of to an address we could not send.
    """
    sender = (sender or "").strip()
    if sender.startswith("<") and sender.endswith(">"):
        sender = sender[1:-1].strip()
    return "" if _UNSAFE.search(sender) else sender


def unsafe_recipient(recipient: str) -> bool:
    return not recipient or bool(_UNSAFE.search(recipient))


def hello_name(name: str) -> bytes:
    """Our name for EHLO/LHLO/HELO; one with spaces or controls would split the command."""
    return (name if name and name.isascii() and not _UNSAFE.search(name) else "localhost").encode()


def encode_address(address: str) -> bytes:
    return address.encode("utf-8")


# -- the wire ----------------------------------------------------------------


class DotStuffer:
    """LF message bytes -> DATA payload: CRLF endings, leading dots doubled (RFC 5321 4.5.2).

    Works chunk by chunk on whole buffers (no per-line Python loop), carrying
    only "does the next byte start a line" across chunk boundaries. Every LF
    becomes CRLF, so the payload never holds a bare LF that a lenient server
    could read as a line end (SMTP smuggling needs one).
    """

    def __init__(self):
        self.at_line_start = True

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        out = chunk.replace(b"\n.", b"\n..")
        if self.at_line_start and chunk[:1] == b".":
            out = b"." + out
        self.at_line_start = chunk.endswith(b"\n")
        return out.replace(b"\n", b"\r\n")

    def finish(self) -> bytes:
        # A last line without LF still needs its CRLF before the terminator.
        return (b"" if self.at_line_start else b"\r\n") + b".\r\n"


def scan(spool: BinaryIO, prefix: bytes) -> tuple[int, bool]:
    """(size on the wire with CRLF endings, has 8-bit bytes), for SIZE= and BODY=."""
    size = len(prefix) + prefix.count(b"\n")
    eight_bit = not prefix.isascii()
    last = prefix[-1:]
    spool.seek(0)
    for chunk in iter(lambda: spool.read(CHUNK), b""):
        size += len(chunk) + chunk.count(b"\n")
        eight_bit = eight_bit or not chunk.isascii()
        last = chunk[-1:]
    if last and last != b"\n":
        size += 2
    return size, eight_bit


def open_unix_socket(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        sock.close()
        reason = "no such socket" if isinstance(exc, FileNotFoundError) else "connection refused"
        raise ConnectError(f"cannot connect to {printable(path, 200)}: {reason}")
    except TimeoutError:
        sock.close()
        raise ConnectError(f"timed out connecting to {printable(path, 200)} after {timeout:g} s")
    except OSError as exc:
        sock.close()
        raise ConnectError(f"cannot connect to {printable(path, 200)}: {exc.strerror or exc}")
    return sock


class Conversation:
    """Commands and replies of one SMTP/LMTP session over a LineStream."""

    def __init__(self, stream: LineStream):
        self.stream = stream
        self.extensions: dict[str, str] = {}
        self.tls_context = None  # for STARTTLS, when the backend uses TLS

    def read_reply(self) -> Reply:
        code, lines = None, []
        while True:
            raw = self.stream.readline()
            match = _REPLY.fullmatch(raw)
            if match is None or (code is not None and match.group(1) != code):
                self.stream.close()
                raise ProtocolError(f"server sent something that is not a reply: {printable(raw)}")
            code = match.group(1)
            lines.append(printable(match.group(3) or b"", REPLY_LINE))
            if match.group(2) != b"-":
                return Reply(int(code), tuple(lines))
            if len(lines) >= REPLY_LINES:
                self.stream.close()
                raise LimitExceeded(f"server sent a reply longer than {REPLY_LINES} lines")

    def command(self, line: bytes) -> Reply:
        self.stream.send(line + b"\r\n")
        return self.read_reply()

    def hello(self, verb: bytes, name: str) -> Reply:
        """EHLO/LHLO; on success, remember the extensions the server offers."""
        reply = self.command(verb + b" " + hello_name(name))
        if reply.code == 250:
            self.extensions = {}
            for line in reply.lines[1:]:
                keyword, _, params = line.partition(" ")
                self.extensions[keyword.upper()] = params
        return reply

    def mail_from(self, sender: str, size: int, eight_bit: bool, utf8: bool) -> Reply:
        line = b"MAIL FROM:<" + encode_address(sender) + b">"
        if "SIZE" in self.extensions:
            line += b" SIZE=%d" % size
        if eight_bit and "8BITMIME" in self.extensions:
            line += b" BODY=8BITMIME"
        if utf8 and "SMTPUTF8" in self.extensions:
            line += b" SMTPUTF8"
        return self.command(line)

    def send_message(self, spool: BinaryIO, prefix: bytes) -> None:
        """Stream prefix + spool as the DATA payload, ending with the "." line."""
        stuffer = DotStuffer()
        if prefix:
            self.stream.send(stuffer.feed(prefix))
        spool.seek(0)
        for chunk in iter(lambda: spool.read(CHUNK), b""):
            self.stream.send(stuffer.feed(chunk))
        self.stream.send(stuffer.finish())

    def quit(self) -> None:
        """Say goodbye politely; everything that mattered is already settled."""
        try:
            if not self.stream.closed:
                self.command(b"QUIT")
        except ProtocolError:
            pass
        finally:
            self.stream.close()


def settle(
    recipients: list[str], settled: dict[int, Outcome], status: str, detail: str, full=False,
    storage_full=False,
) -> list[Outcome]:
    """Outcomes in the given order; recipients not yet settled get `status`."""
    return [
        settled.get(i) or Outcome(rcpt, status, detail, full, storage_full=storage_full)
        for i, rcpt in enumerate(recipients)
    ]


class SessionBackend(Backend):
    """The MAIL / RCPT / DATA frame LMTP and SMTP share.

    Subclasses keep their settings (with `local_part_only`) in
    self.settings, open the connection (connect) and get it ready for MAIL FROM
    (greet: greeting, hello, TLS, AUTH), and say whether one reply per
    accepted recipient follows the final "." (LMTP) or one for all (SMTP).
    Every failure to set the session up (connect, greeting, hello, TLS,
    AUTH) is temporary: it is about the network or our configuration, not
    the message, so the message must stay on the remote server. Refusals
    of MAIL FROM, RCPT, DATA and the message follow the reply code.
    """

    where = "mail server"
    reply_per_recipient = False

    @abstractmethod
    def connect(self) -> Conversation: ...

    @abstractmethod
    def greet(self, conv: Conversation) -> None: ...

    def scrub(self, detail: str) -> str:
        """Hook to mask secrets a server might echo back."""
        return detail

    def wire_address(self, address: str) -> str:
        """The RCPT TO form of a mailbox address: a bare local part when the target says so."""
        if self.settings.local_part_only and "@" in address:
            return address.rpartition("@")[0]
        return address

    def deliver(self, spool, size, sender, recipients, prefix_for, *, folder="", token="",
                seen=False):
        # Outcomes name each recipient as the server was told (RCPT TO).
        wire = names = [self.wire_address(r.address) for r in recipients]
        settled: dict[int, Outcome] = {}
        for i, rcpt in enumerate(wire):
            if unsafe_recipient(rcpt):
                detail = f"invalid recipient address {printable(rcpt, 100)!r}"
                settled[i] = Outcome(names[i], PERMANENT, detail)
        pending = [i for i in range(len(wire)) if i not in settled]
        if not pending:
            return settle(names, settled, PERMANENT, "")
        conv, sent = None, []  # `sent` gets an entry once the final "." is out
        try:
            conv = self.connect()
            self.greet(conv)
            self._transaction(conv, spool, sender, names, wire, pending, prefix_for, settled, sent)
            result = settle(names, settled, TEMPORARY, "no reply from server")
        except SessionFailed as exc:
            result = settle(names, settled, exc.status, f"{self.where}: {exc}", exc.mailbox_full,
                            exc.storage_full)
        except ProtocolError as exc:
            detail = f"{self.where}: {exc}"
            if sent:
                # The server may have stored it without telling us; a retry
                # can then deliver a second copy, which beats losing one.
                detail += " (no confirmation after the message was sent; a retry may deliver twice)"
            result = settle(names, settled, TEMPORARY, detail)
        finally:
            if conv is not None:
                conv.quit()
        return [replace(o, detail=self.scrub(o.detail)) for o in result]

    def _transaction(self, conv, spool, sender, names, wire, pending, prefix_for, settled, sent):
        sender = envelope_sender(sender)
        prefix = prefix_for(None)
        size, eight_bit = scan(spool, prefix)
        utf8 = not all(a.isascii() for a in [sender, *wire])
        reply = conv.mail_from(sender, size, eight_bit, utf8)
        if reply.status != DELIVERED:
            # A refused sender (or SIZE) is about this message: 5xx will not change.
            raise SessionFailed(f"MAIL FROM refused: {reply}", reply.status, reply.mailbox_full,
                                reply.storage_full)
        accepted = []
        for i in pending:
            reply = conv.command(b"RCPT TO:<" + encode_address(wire[i]) + b">")
            if reply.status == DELIVERED:
                accepted.append(i)
            else:
                settled[i] = outcome(names[i], reply, "RCPT TO refused")
        if not accepted:
            return  # nobody to send to; RFC 5321 forbids DATA without a recipient
        reply = conv.command(b"DATA")
        if reply.code != 354:
            status = PERMANENT if reply.code >= 500 else TEMPORARY
            raise SessionFailed(f"DATA refused: {reply}", status, reply.mailbox_full,
                                reply.storage_full)
        conv.send_message(spool, prefix)
        sent.append(True)
        if self.reply_per_recipient:
            # Settle each as its reply arrives: if the connection drops now,
            # those already confirmed stay delivered and only the rest retry.
            for i in accepted:
                settled[i] = outcome(names[i], conv.read_reply(), "message refused")
        else:
            reply = conv.read_reply()
            for i in accepted:
                settled[i] = outcome(names[i], reply, "message refused")
