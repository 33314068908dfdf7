"""A streaming IMAP4rev1 client (RFC 3501; 2595 STARTTLS, 4315 UIDPLUS, 4959 SASL-IR).

Not imaplib: it reads every literal into memory, a whole message or
whatever size a hostile server announces, and has no bound on a response.
Here every response is parsed off LineStream with each byte counted, and a
message body goes from the socket into the caller's file chunk by chunk.

Identity: RemoteMessage.uid is "<folder>/<UIDVALIDITY>/<UID>", stable for as
long as the server keeps the folder's UIDVALIDITY; the UIDVALIDITY seen for
each folder is also in `uidvalidity` so a caller can notice a reset. The
handle is "<folder>\0<UID>". Server alerts and deletions that could not be
made permanent are listed in `warnings` rather than failing the session.
"""

from __future__ import annotations

import base64
import itertools
import logging
from collections.abc import Callable
from typing import BinaryIO

from popadmin.net import tls
from popadmin.net.errors import ProtocolError, TLSError
from popadmin.net.sockets import open_socket
from popadmin.net.stream import ConnectionClosed, LineStream
from popadmin.net.text import printable, redact

from . import sasl_oauth
from .base import MAX_LISTING, AuthError, ConnectionParams, MailSession, RemoteMessage
from .imap_parse import (
    STATUS,
    BodySink,
    Budget,
    MalformedResponse,
    Response,
    ResponseReader,
    astring,
    exchange,
    fetch_items,
    mailbox,
    number,
    uid_sets,
)

log = logging.getLogger(__name__)


class IncompleteMessage(ProtocolError):
    """The connection failed while a message body was arriving; the output is partial."""

    retryable = True

    def __init__(self, text: str, received: int, expected: int):
        super().__init__(text)
        self.received = received
        self.expected = expected


class _Refused(ProtocolError):
    """A tagged NO or BAD: the command failed, but the session is still in a known state."""

    def __init__(self, response: Response, text: str):
        super().__init__(text)
        self.text = text
        self.code = response.code


class IMAPSession(MailSession):
    max_listing = MAX_LISTING  # per command; an attribute so tests can lower it

    def __init__(self, params: ConnectionParams):
        super().__init__(params)
        self._stream: LineStream | None = None
        self._reader: ResponseReader | None = None
        self.capabilities: set[str] = set()
        self.auth_method: str | None = None
        # self.uidvalidity (folder -> UIDVALIDITY at its last SELECT) and
        # self.warnings ([ALERT]s, deletions that could not be made
        # permanent) come from MailSession.
        self.folders: tuple[str, ...] = ()
        self._tags = itertools.count(1)
        self._caps_seen = False
        self._selected: str | None = None
        self._exists = 0
        self._select_uidvalidity: int | None = None
        self._bye: str | None = None
        self._pending: dict[str, tuple[int, set[int]]] = {}  # folder -> (UIDVALIDITY, UIDs)

    # -- connection ---------------------------------------------------------

    def connect(self) -> None:
        p = self.params
        if p.security not in ("tls", "starttls", "none"):
            raise ProtocolError(f"unknown security setting {p.security!r}")
        self.folders = _folder_names(p.folders)
        # A line break would end the command early and let the rest run as a
        # command of its own; NUL cannot be sent by any login method.
        if any(c in s for s in (p.username, p.password) for c in "\r\n\0"):
            raise AuthError("the username or password contains a line break or NUL byte")
        sock = open_socket(p.host, p.port, p.timeout, p.reach)
        try:
            if p.security == "tls":
                sock = tls.connect_tls(sock, p)
            self._stream = LineStream(sock, p.timeout)
            self._reader = ResponseReader(self._stream)
            preauth = self._greeting()
            if p.security == "starttls":
                if preauth:
                    raise TLSError(
                        "server greeted with PREAUTH, which rules out STARTTLS; "
                        "refusing to use the unencrypted connection"
                    )
                self._starttls()
            if not self._caps_seen:
                self._capability()
            if preauth:
                self.auth_method = "PREAUTH"
            else:
                self._login()
        except BaseException:
            self.close()
            sock.close()
            raise
        log.debug("IMAP login to %s:%s as %s (%s)", p.host, p.port, p.username, self.auth_method)

    def _greeting(self) -> bool:
        """True if the server says the connection is already authenticated."""
        try:
            response = self._reader.read(Budget(self.max_listing))
        except MalformedResponse as exc:
            raise ProtocolError(f"unexpected greeting from server: {printable(exc.line, 100)}")
        if response.tag == b"*" and response.name in ("OK", "PREAUTH"):
            self._note_code(response)
            return response.name == "PREAUTH"
        if response.tag == b"*" and response.name == "BYE":
            raise ProtocolError(f"server refused the connection: {self._text(response)}")
        raise ProtocolError(f"unexpected greeting from server: {printable(response.line, 100)}")

    def _starttls(self) -> None:
        if not self._caps_seen:
            self._capability()
        if "STARTTLS" not in self.capabilities:
            raise TLSError(
                "server does not offer STARTTLS; refusing to send the password unencrypted"
            )
        try:
            self._command(b"STARTTLS")
        except _Refused as exc:
            raise TLSError(f"server refused STARTTLS: {exc.text}")
        self._io().start_tls(tls.make_context(self.params), self.params.host)
        # Capabilities seen in clear may have been forged (RFC 3501 §6.2.1).
        self.capabilities, self._caps_seen = set(), False

    def _capability(self) -> None:
        try:
            self._command(b"CAPABILITY")
        except _Refused:
            pass  # nothing advertised: only plain IMAP4rev1 is used

    def _login(self) -> None:
        p = self.params
        if p.security != "none" and not self._io().is_tls:
            raise TLSError("refusing to send the password over an unencrypted connection")
        self._caps_seen = False
        if p.sasl in sasl_oauth.MECHANISMS:
            self._authenticate_oauth()
        elif "AUTH=PLAIN" in self.capabilities:
            self._authenticate_plain()
        elif "LOGINDISABLED" in self.capabilities:
            raise AuthError(
                "server does not allow LOGIN on this connection (LOGINDISABLED) "
                "and offers no AUTH=PLAIN"
            )
        else:
            self.auth_method = "LOGIN"
            self._login_command(b"LOGIN", astring(p.username), astring(p.password))
        if not self._caps_seen:
            # Servers advertise more after login (UIDPLUS, for one).
            self.capabilities = set()
            self._capability()

    def _authenticate_plain(self) -> None:
        # SASL PLAIN carries any UTF-8 without quoting rules (RFC 4616).
        p = self.params
        token = base64.b64encode(b"\0" + p.username.encode() + b"\0" + p.password.encode())
        self.auth_method = "AUTHENTICATE PLAIN"
        if "SASL-IR" in self.capabilities:
            return self._login_command(b"AUTHENTICATE", b"PLAIN", token)
        answers = iter([token])
        # "*" cancels an unexpected second challenge instead of guessing.
        self._login_command(b"AUTHENTICATE", b"PLAIN", respond=lambda text: next(answers, b"*"))

    def _authenticate_oauth(self) -> None:
        p = self.params
        if "\x01" in p.username:
            raise AuthError("the username contains a control character")
        if not p.bearer:
            raise AuthError("no OAuth2 access token for this account: sign-in expired: reconnect")
        name = sasl_oauth.MECHANISMS[p.sasl].encode()
        self.auth_method = f"AUTHENTICATE {name.decode()}"
        response = sasl_oauth.initial_response(p.sasl, p.username, p.bearer, p.host, p.port)
        challenges: list[str] = []
        sent = [] if "SASL-IR" in self.capabilities else [response]

        def respond(challenge: bytes) -> bytes:
            # A challenge after the token is the server's error report
            # (RFC 7628 section 3.2.2): answer so it can finish with NO.
            if sent:
                return sent.pop()
            challenges.append(sasl_oauth.challenge_text(challenge))
            return sasl_oauth.failure_reply(p.sasl)

        args = (b"AUTHENTICATE", name, response) if not sent else (b"AUTHENTICATE", name)
        try:
            self._command(*args, respond=respond)
        except _Refused as exc:
            detail = "; ".join(redact(printable(c.encode(), 200), p.bearer) for c in challenges)
            detail = f"{exc.text}; {detail}" if detail else exc.text
            raise AuthError(f"sign-in refused by server: reconnect ({detail})")

    def _login_command(self, *args: bytes, respond=None) -> None:
        try:
            self._command(*args, respond=respond)
        except _Refused as exc:
            raise AuthError(f"login refused by server: {exc.text}")

    # -- mailbox ------------------------------------------------------------

    def list_messages(self) -> list[RemoteMessage]:
        listing = []
        for folder in self.folders:
            exists = self._select(folder)
            # "1:*" on an empty folder is an error on some servers.
            sizes = self._sizes(folder) if exists else {}
            uidvalidity = self.uidvalidity[folder]
            listing += [
                RemoteMessage(f"{folder}/{uidvalidity}/{uid}", f"{folder}\0{uid}", size)
                for uid, size in sorted(sizes.items())
            ]
        return listing

    def seen_uids(self) -> list[str]:
        """The uids (as list_messages gives them) of the messages flagged \\Seen.

        For a retriever that kept no state of its own but relied on the
        flag (fetchmail, for IMAP). Folders are opened read-only (EXAMINE),
        so not even \\Recent changes.
        """
        found = []
        for folder in self.folders:
            uids: set[int] = set()
            if self._select(folder, readonly=True):
                try:
                    uids = self._uid_search(b"SEEN")
                except _Refused as exc:
                    raise ProtocolError(
                        f"server refused to search folder '{folder}': {exc.text}")
            uidvalidity = self.uidvalidity[folder]
            found += [f"{folder}/{uidvalidity}/{uid}" for uid in sorted(uids)]
        return found

    def _select(self, folder: str, expect: int | None = None, readonly: bool = False) -> int:
        """Open the folder (read-write unless `readonly`); returns its message count."""
        self._selected, self._select_uidvalidity, self._exists = None, None, 0
        try:
            self._command(b"EXAMINE" if readonly else b"SELECT", mailbox(folder))
        except _Refused as exc:
            raise self._select_failed(folder, exc)
        uidvalidity = self._select_uidvalidity
        if uidvalidity is None:
            raise ProtocolError(f"server did not report the UIDVALIDITY of folder '{folder}'")
        if expect is not None and uidvalidity != expect:
            raise ProtocolError(
                f"folder '{folder}' was replaced on the server during the session "
                f"(UIDVALIDITY {expect} is now {uidvalidity})"
            )
        self.uidvalidity[folder] = uidvalidity
        # A read-only folder is not one fetch() or delete() may use as it is.
        self._selected = None if readonly else folder
        return self._exists

    def _select_failed(self, folder: str, exc: _Refused) -> ProtocolError:
        # Servers without RFC 5530 codes give no reason; LIST tells.
        if exc.code == "NONEXISTENT" or (exc.code is None and not self._listed(folder)):
            return ProtocolError(f"folder '{folder}' does not exist on the server")
        return ProtocolError(f"server refused to open folder '{folder}': {exc.text}")

    def _listed(self, folder: str) -> bool:
        if "%" in folder or "*" in folder:
            return True  # a wildcard would match other folders: cannot tell
        found = []
        try:
            self._command(b"LIST", b'""', mailbox(folder), on_data=found.append)
        except _Refused:
            return True
        return any(r.name == "LIST" for r in found)

    def _sizes(self, folder: str) -> dict[int, int]:
        sizes: dict[int, int] = {}

        def on_data(response: Response) -> None:
            if response.name == "FETCH":
                items = fetch_items(response)
                uid, size = number(items.get("UID")), number(items.get("RFC822.SIZE"), 2**63)
                if uid is not None and size is not None:
                    sizes[uid] = size

        try:
            self._command(b"UID", b"FETCH", b"1:*", b"(UID RFC822.SIZE)", on_data=on_data)
        except _Refused as exc:
            raise ProtocolError(f"server refused to list folder '{folder}': {exc.text}")
        return sizes

    def _use(self, folder: str, uidvalidity: int) -> None:
        if self._selected != folder or self.uidvalidity.get(folder) != uidvalidity:
            self._select(folder, expect=uidvalidity)

    def fetch(self, msg: RemoteMessage, out: BinaryIO, max_bytes: int | None = None) -> int:
        folder, uidvalidity, uid = _parse_message(msg)
        self._use(folder, uidvalidity)
        where = f"message {uid} in folder '{folder}'"
        body = BodySink(uid, out, max_bytes, where)
        command = (b"UID", b"FETCH", b"%d" % uid, b"(BODY.PEEK[])")
        try:
            self._command(*command, on_data=body.check, sink_for=body.sink_for)
        except _Refused as exc:
            raise ProtocolError(f"server refused to send {where}: {exc.text}")
        except ProtocolError as exc:
            if body.size is not None and not body.complete:
                raise IncompleteMessage(
                    f"download of {where} broke off after {body.received} of {body.size} "
                    f"bytes: {exc}",
                    body.received,
                    body.size,
                ) from exc
            raise
        if body.size is None:
            raise ProtocolError(f"{where} vanished from the server")
        return body.written

    def delete(self, msg: RemoteMessage) -> None:
        """Remember the message; the server hears of it only at commit()."""
        folder, uidvalidity, uid = _parse_message(msg)
        self._io()
        known, uids = self._pending.setdefault(folder, (uidvalidity, set()))
        if known != uidvalidity:
            raise ProtocolError(f"folder '{folder}' changed UIDVALIDITY during the session")
        uids.add(uid)

    def commit(self) -> None:
        """Delete the messages passed to delete(), then LOGOUT.

        Flags are set only now (UID STORE +FLAGS.SILENT (\\Deleted)), so a
        session closed without commit() leaves the server as it was, like a
        POP3 session dropped without QUIT.

        With UIDPLUS, UID EXPUNGE removes exactly our messages. Without it
        there is no way to expunge only some messages, and a bare EXPUNGE
        (or CLOSE) would also remove whatever other clients marked \\Deleted
        and meant to undo later. So CLOSE is used only if UID SEARCH DELETED
        finds nothing but our messages marked (a client flagging a message in
        the moment between SEARCH and CLOSE would lose it; no IMAP4rev1
        command closes that gap). Otherwise our messages stay marked, to go
        at the next expunge by anyone, and a line in `warnings` says so;
        the next session sees them again and retries.
        """
        self._io()  # a session already closed has nothing to confirm
        try:
            for folder, (uidvalidity, uids) in self._pending.items():
                try:
                    self._expunge(folder, uidvalidity, sorted(uids))
                except _Refused as exc:
                    raise ProtocolError(
                        f"server refused to delete messages in folder '{folder}': {exc.text}"
                    )
                except ProtocolError as exc:
                    raise ProtocolError(
                        f"{exc}; deletions in folder '{folder}' may not have been applied"
                    ) from exc
            self._pending.clear()
            self._logout()
        finally:
            self.close()

    def _expunge(self, folder: str, uidvalidity: int, uids: list[int]) -> None:
        self._use(folder, uidvalidity)
        sets = uid_sets(uids)
        for uid_set in sets:
            self._command(b"UID", b"STORE", uid_set, b"+FLAGS.SILENT", b"(\\Deleted)")
        if "UIDPLUS" in self.capabilities:
            for uid_set in sets:
                self._command(b"UID", b"EXPUNGE", uid_set)
            return
        others = self._search_deleted() - set(uids)
        if others:
            warning = (
                f"folder '{folder}': {len(uids)} message(s) marked deleted but not removed; "
                f"the server cannot expunge single messages (no UIDPLUS) and {len(others)} "
                "other message(s) there are marked deleted by another client"
            )
            log.info("%s: %s", self.params.host, warning)
            self.warnings.append(warning)
            return
        self._command(b"CLOSE")
        self._selected = None

    def _search_deleted(self) -> set[int]:
        return self._uid_search(b"DELETED")

    def _uid_search(self, criterion: bytes) -> set[int]:
        found: set[int] = set()

        def on_data(response: Response) -> None:
            if response.name == "SEARCH":
                found.update(n for n in map(number, response.data) if n is not None)

        self._command(b"UID", b"SEARCH", criterion, on_data=on_data)
        return found

    def _logout(self) -> None:
        try:
            self._command(b"LOGOUT")
        except ProtocolError as exc:
            # Deletions are already permanent; only the goodbye went wrong.
            log.debug("LOGOUT from %s not confirmed: %s", self.params.host, exc)

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self._reader = None
        self._selected = None
        self._pending.clear()
        if stream is not None:
            stream.close()

    # -- protocol plumbing --------------------------------------------------

    def _io(self) -> LineStream:
        if self._stream is None or self._stream.closed:
            raise ProtocolError("not connected to the server")
        return self._stream

    def _command(
        self,
        *args: bytes,
        on_data: Callable[[Response], None] | None = None,
        sink_for=None,
        respond: Callable[[bytes], bytes] | None = None,
    ) -> Response:
        """Run one command to its tagged OK; raise _Refused on NO/BAD.

        Any other failure leaves the conversation at an unknown point, so
        the session is closed.
        """
        self._io()
        tag = b"A%03d" % next(self._tags)
        try:
            done = exchange(
                self._reader,
                tag,
                args,
                Budget(self.max_listing),
                lambda response: self._untagged(response, on_data),
                sink_for,
                respond,
            )
        except BaseException as exc:
            self.close()
            if isinstance(exc, ConnectionClosed) and self._bye:
                raise ConnectionClosed(f"server closed the connection: {self._bye}")
            if isinstance(exc, MalformedResponse):  # quotes the server, which may echo us
                raise ProtocolError(redact(str(exc), self.params.password)) from None
            raise
        self._note_code(done)
        if done.name != "OK":
            raise _Refused(done, self._text(done))
        return done

    def _untagged(self, response: Response, on_data) -> None:
        # Servers may send these at any moment (RFC 3501 §7), so they are
        # handled here for every command rather than by each caller.
        name = response.name
        if name in STATUS:
            self._note_code(response)
            if name == "BYE":
                self._bye = self._text(response)
            return
        if name == "CAPABILITY":
            self._set_capabilities(b" ".join(t for t in response.data if isinstance(t, bytes)))
        elif name == "EXISTS":
            self._exists = response.number
        elif name == "EXPUNGE":
            self._exists = max(0, self._exists - 1)
        if on_data is not None:
            on_data(response)

    def _note_code(self, response: Response) -> None:
        if response.code == "CAPABILITY":
            self._set_capabilities(response.code_args)
        elif response.code == "UIDVALIDITY":
            self._select_uidvalidity = number(response.code_args.strip())
        elif response.code == "ALERT":
            alert = "server alert: " + redact(printable(response.text), self.params.password)
            log.warning("%s: %s", self.params.host, alert)
            if alert not in self.warnings:
                self.warnings.append(alert)

    def _set_capabilities(self, raw: bytes) -> None:
        self.capabilities = {word.upper() for word in raw.decode("latin-1").split()}
        self._caps_seen = True

    def _text(self, response: Response) -> str:
        """Server text for an error message, with the password masked if echoed."""
        text = printable(response.text)
        if response.code:
            text = f"[{printable(response.code, 40)}] {text}".rstrip()
        return redact(redact(text, self.params.password), self.params.bearer)


def _parse_message(msg: RemoteMessage) -> tuple[str, int, int]:
    """(folder, UIDVALIDITY, UID) of a message this client listed."""
    folder, sep, uid = msg.handle.rpartition("\0")
    parts = msg.uid.rsplit("/", 2)
    if (
        not sep
        or not (uid.isascii() and uid.isdigit())
        or len(parts) != 3
        or parts[0] != folder
        or not (parts[1].isascii() and parts[1].isdigit())
    ):
        raise ProtocolError(f"not a message of an IMAP listing: {printable(msg.uid, 50)}")
    return folder, int(parts[1]), int(uid)


def _folder_names(names) -> tuple[str, ...]:
    folders: list[str] = []
    for name in names or ("INBOX",):
        if not isinstance(name, str) or not name or any(c in name for c in "\r\n\0"):
            raise ProtocolError(f"invalid folder name {name!r}")
        # INBOX is case-insensitive; one spelling keeps the seen-state stable.
        name = "INBOX" if name.upper() == "INBOX" else name
        if name not in folders:
            folders.append(name)
    return tuple(folders)
