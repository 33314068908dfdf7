"""Delivery into a folder of any IMAP mailbox (Gmail, Microsoft 365, Dovecot, ...) by APPEND.

A target of this kind is ONE remote mailbox (its username): every local
mailbox routed to it shares it, and one message is appended once per
Router call, whatever the number of recipients.

Delivered means the server answered OK to the APPEND; with UIDPLUS its
APPENDUID ("<uidvalidity>/<uid>") goes on the Outcome and the Delivery row.
The appended copy keeps the message's date as its internal date (from
`Date:`, else the newest `Received:`) and arrives unseen unless the source
said seen: an IMAP source's \\Seen (read from the listing, never set by our
fetch) is appended as the copy's one flag; POP3 sources have no flags.

No second copy after a crash: every copy carries our `X-Popadmin-Token`
header (in the trace prefix). Before appending, the folder is searched by
Message-ID and the hits are checked for that token (servers such as Gmail
search Message-ID reliably but not every header); without a Message-ID the
token itself is searched. A message with the same Message-ID but without
our token is NOT taken for ours: a forged Message-ID must never make the
source copy be deleted while the destination lacks it.

Folders: "" and INBOX are the inbox; "/" separates levels and becomes the
server's own separator; a missing folder is created (on TRYCREATE) and
subscribed. The password is only sent over TLS unless the target says
security "none", and never appears in an outcome.

OAuth2 (auth_method xoauth2 / oauthbearer): the access token comes from
the target's `bearer` (a grant kept by the retrieval app, refreshed when
near expiry) at each login; a token the server refuses is refreshed once
and the login tried once more. A grant that cannot be used is a temporary
failure ("sign-in expired: reconnect"), so the message stays at the source.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from popadmin.net.errors import ProtocolError
from popadmin.net.sockets import open_socket
from popadmin.net.stream import LineStream
from popadmin.net.text import printable, redact
from popadmin.net.tls import make_context, wrap_socket

from .base import DELIVERED, PERMANENT, TEMPORARY, Backend, Outcome, Recipient, Site
from .imap_client import (
    AuthError,
    ImapClient,
    ImapRefused,
    encode_folder,
    list_delimiter,
    quote,
    wire_size,
)

TOKEN_HEADER = "X-Popadmin-Token"  # noqa: S105  (a header name, not a secret)
HEADER_LIMIT = 256 * 1024  # how much of the spool is read to find Date / Message-ID
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


@dataclass(frozen=True)
class ImapAppendSettings:
    host: str
    port: int = 993
    security: str = "tls"  # "tls" | "starttls" | "none"
    username: str = ""
    password: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_file: str | None = None
    timeout: float = 60.0
    sasl: str = ""  # "" (password) | "xoauth2" | "oauthbearer"
    bearer: Callable[[], str] | None = field(default=None, repr=False)
    # After the server refused `bearer`'s token: a new one (the cached one may outlive a
    # grant revoked at the provider), or the grant expires and this raises.
    renew_bearer: Callable[[], str] | None = field(default=None, repr=False)


class ImapAppendBackend(Backend):
    name = "imap"
    label = "IMAP APPEND into a mailbox (Gmail, Microsoft 365, ...)"

    @classmethod
    def from_target(cls, target, site: Site) -> ImapAppendBackend:
        default_port = 993 if target.security == "tls" else 143
        return cls(ImapAppendSettings(
            host=target.host, port=target.port or default_port, security=target.security,
            username=target.username, password=target.decrypted_password(),
            verify_tls=target.verify_tls,
            ca_file=site.ca_file, timeout=float(target.timeout_seconds),
            sasl="" if target.auth_method == "password" else target.auth_method,
            bearer=target.bearer, renew_bearer=target.renewed_bearer,
        ))

    @classmethod
    def target_problems(cls, target) -> dict[str, str]:
        problems = {}
        if not target.host:
            problems["host"] = "IMAP APPEND needs the host of the destination mailbox."
        if not target.username:
            problems["username"] = "IMAP APPEND logs in to one mailbox: give its username."
        return problems

    def __init__(self, settings: ImapAppendSettings):
        self.settings = settings
        self.where = f"IMAP server {printable(settings.host, 100)}:{settings.port}"
        self._client: ImapClient | None = None
        self._delimiter = "/"
        self._token = ""  # the last access token sent, kept only to scrub it from details

    # -- the connection, kept for the run (the Router keeps one backend per target) --

    def _connect(self) -> ImapClient:
        s = self.settings
        context = make_context(s) if s.security != "none" else None
        sock = open_socket(s.host, s.port, s.timeout)
        if s.security == "tls":
            sock = wrap_socket(sock, context, s.host)
        client = ImapClient(LineStream(sock, s.timeout, 64 * 1024))
        try:
            state = client.greeting()
            if not client.capabilities:
                client.capability()
            if s.security == "starttls":
                if "STARTTLS" not in client.capabilities:
                    raise ProtocolError("the server does not offer STARTTLS, which the target "
                                        "requires; nothing was sent")
                client.command(b"STARTTLS")
                client.stream.start_tls(context, s.host)
                client.capability()  # what was offered in clear may have been forged
            if state != "PREAUTH":
                self._login(client)
            self._delimiter = list_delimiter(client)
        except BaseException:
            client.stream.close()
            raise
        return client

    def _login(self, client: ImapClient) -> None:
        s = self.settings
        if not client.stream.is_tls and s.security != "none":
            raise AuthError("refusing to send the password over an unencrypted connection")
        if s.sasl:
            token = s.bearer() if s.bearer else ""
            self._token = token
            try:
                client.authenticate_bearer(s.sasl, s.username, token, s.host, s.port)
            except AuthError:
                if not s.renew_bearer:
                    raise
                # Refused: refresh once and try once more on this connection.
                self._token = token = s.renew_bearer()
                client.authenticate_bearer(s.sasl, s.username, token, s.host, s.port)
            return
        client.login(s.username, s.password)

    def _session(self, fresh: bool = False) -> ImapClient:
        if fresh or self._client is None or self._client.stream.closed:
            self.close()
            self._client = self._connect()
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.logout()

    # -- looking for a copy an interrupted session stored ------------------------

    can_find_copies = True

    def already_delivered(self, recipient: Recipient, folder: str, token: str) -> bool:
        if not token:
            return False
        try:
            return self._lookup(folder, token, message_id=b"") is not None
        except (ProtocolError, OSError, ValueError):
            self.close()
            return False  # deliver() looks again and says what is wrong

    def _lookup(self, folder: str, token: str, message_id: bytes) -> int | None:
        """The UID of a copy carrying our token in `folder`, or None; retried once on a
        fresh connection when a kept one has gone stale."""
        for fresh in (False, True):
            client = self._session(fresh)
            try:
                return self._search(client, folder, token, message_id)
            except ImapRefused:
                raise
            except (ProtocolError, OSError):
                if fresh:
                    raise
        raise AssertionError("unreachable")

    def _search(self, client: ImapClient, folder: str, token: str, message_id: bytes):
        try:
            client.examine(self.mailbox_name(folder))
        except ImapRefused:
            return None  # no such folder yet: nothing can be in it
        wanted = token.encode("ascii")
        if message_id and quote(message_id):
            candidates = client.uid_search(b"HEADER", b"Message-ID", quote(message_id))
            headers = client.uid_fetch_header(candidates, TOKEN_HEADER.encode())
            for uid, header in zip(candidates, headers, strict=False):
                if wanted in header:
                    return uid
            if candidates:
                return None  # found by Message-ID, but none is ours
        try:
            found = client.uid_search(b"HEADER", TOKEN_HEADER.encode(), quote(wanted))
        except ImapRefused:
            return None  # a server that cannot search this header: append (never lose)
        return found[0] if found else None

    def mailbox_name(self, folder: str) -> bytes:
        name = (folder or "").strip().strip("/")
        if not name or name.upper() == "INBOX":
            return b"INBOX"
        if any(not ch.isprintable() for ch in name):
            raise ValueError(f"invalid folder name {printable(name, 100)!r}")
        parts = [p for p in name.split("/") if p]
        return encode_folder(self._delimiter.join(parts))

    # -- delivering ---------------------------------------------------------

    def deliver(self, spool, size, sender, recipients, prefix_for, *, folder="", token="",
                seen=False):
        names = [r.address for r in recipients]
        try:
            outcome = self._append(spool, names, prefix_for, folder, token, seen)
        except ValueError as exc:
            outcome = Outcome("", PERMANENT, f"{self.where}: {exc}")
        except ImapRefused as exc:
            outcome = self._refused(exc)
        except (ProtocolError, OSError) as exc:
            self.close()
            outcome = Outcome("", TEMPORARY, f"{self.where}: {exc}")
        outcome = replace(outcome, detail=self.scrub(outcome.detail))
        return [replace(outcome, recipient=name) for name in names]

    def _append(self, spool, names, prefix_for, folder, token, seen=False) -> Outcome:
        head = message_head(spool)
        message_id = (head.get("Message-ID") or "").strip().encode("utf-8", "replace")
        where = f"{printable(folder or 'INBOX', 100)}"
        if token:
            uid = self._lookup(folder, token, message_id)
            if uid is not None:
                return Outcome("", DELIVERED, f"already in {where} as UID {uid} "
                               "(stored by an interrupted session)")
        client = self._session()
        mailbox = self.mailbox_name(folder)  # once connected: it needs the server's separator
        prefix = prefix_for(names[0] if len(names) == 1 else None)
        if token:
            prefix += f"{TOKEN_HEADER}: {token}\n".encode("ascii")
        sources = [io.BytesIO(prefix), spool]
        length, nul = wire_size(sources)
        binary = nul and "BINARY" in client.capabilities
        if nul and not binary:
            return Outcome("", PERMANENT, "the message contains NUL bytes, which this IMAP "
                           "server cannot store (no BINARY extension); left on the source")
        date = internal_date(head)
        flags = b"\\Seen" if seen else b""
        try:
            reply = client.append(mailbox, flags, date, sources, length, binary)
        except ImapRefused as exc:
            if exc.reply.code != "TRYCREATE":
                raise
            client.create(mailbox)
            reply = client.append(mailbox, flags, date, sources, length, binary)
        remote_id = ""
        if reply.code == "APPENDUID":
            remote_id = "/".join(reply.code_args.split()[:2])
        detail = f"appended to {where}" + (f" (UID {remote_id})" if remote_id else "")
        return Outcome("", DELIVERED, detail, remote_id=remote_id)

    def _refused(self, exc: ImapRefused) -> Outcome:
        reply = exc.reply
        if reply.code in ("OVERQUOTA", "LIMIT") and reply.status == "NO":
            full = reply.code == "OVERQUOTA"
            return Outcome("", TEMPORARY if full else PERMANENT, f"{self.where}: {exc}",
                           mailbox_full=full)
        # BAD is about what we sent (the message or the folder name); a NO may pass.
        status = PERMANENT if reply.status == "BAD" else TEMPORARY
        return Outcome("", status, f"{self.where}: {exc}")

    def scrub(self, detail: str) -> str:
        s = self.settings
        if self._token:
            detail = redact(detail, self._token)
        if not s.password:
            return detail
        user, password = s.username.encode("utf-8"), s.password.encode("utf-8")
        for form in (s.password, base64.b64encode(password).decode(),
                     base64.b64encode(b"\0" + user + b"\0" + password).decode()):
            detail = redact(detail, form)
        return detail


def message_head(spool) -> dict[str, str]:
    """Date, Message-ID and the newest Received of the spooled message."""
    spool.seek(0)
    data = spool.read(HEADER_LIMIT)
    end = data.find(b"\n\n")
    headers = BytesHeaderParser().parsebytes(data[: end + 1] if end >= 0 else data)
    return {
        "Date": str(headers.get("Date") or ""),
        "Message-ID": str(headers.get("Message-ID") or ""),
        "Received": str(headers.get("Received") or ""),
    }


def internal_date(head: dict[str, str]) -> bytes:
    """IMAP date-time of the Date header, else of the newest Received; b"" if neither works."""
    latest = datetime.now(UTC) + timedelta(days=2)
    for value in (head.get("Date", ""), head.get("Received", "").rpartition(";")[2]):
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # "-0000": the zone is unknown; UTC is the guess
        if datetime(1970, 1, 2, tzinfo=UTC) <= when <= latest:
            offset = int(when.utcoffset().total_seconds() // 60)
            sign, offset = ("-", -offset) if offset < 0 else ("+", offset)
            return (f"{when.day:2d}-{_MONTHS[when.month - 1]}-{when.year:04d} "
                    f"{when:%H:%M:%S} {sign}{offset // 60:02d}{offset % 60:02d}").encode("ascii")
    return b""
