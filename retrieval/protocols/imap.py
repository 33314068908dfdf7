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

import itertools
import logging

from popadmin.net import tls
from popadmin.net.errors import ProtocolError, TLSError
from popadmin.net.sockets import open_socket
from popadmin.net.stream import LineStream

from .base import MAX_LISTING, AuthError, ConnectionParams, MailSession, RemoteMessage
from .header_digest import header_digest
from .imap_batch import IMAPBatch
from .imap_batch import parse_message as _parse_message
from .imap_parse import (
    Response,
    ResponseReader,
    fetch_items,
    mailbox,
    number,
    uid_sets,
)
from .imap_wire import IMAPWire, IncompleteMessage, _Refused  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


class IMAPSession(IMAPBatch, IMAPWire, MailSession):
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
        self._init_batch()  # fetches sent ahead (imap_batch.py)

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


    # -- mailbox ------------------------------------------------------------

    def list_messages(self) -> list[RemoteMessage]:
        listing = []
        for folder in self.folders:
            exists = self._select(folder)
            # "1:*" on an empty folder is an error on some servers.
            sizes = self._sizes(folder) if exists else {}
            uidvalidity = self.uidvalidity[folder]
            listing += [
                RemoteMessage(f"{folder}/{uidvalidity}/{uid}", f"{folder}\0{uid}", size, seen)
                for uid, (size, seen) in sorted(sizes.items())
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

    def _sizes(self, folder: str) -> dict[int, tuple[int, bool]]:
        """UID -> (size, whether flagged \\Seen). FLAGS rides along in the same
        bounded listing; reading it never changes a flag (BODY.PEEK does the fetch)."""
        sizes: dict[int, tuple[int, bool]] = {}

        def on_data(response: Response) -> None:
            if response.name == "FETCH":
                items = fetch_items(response)
                uid, size = number(items.get("UID")), number(items.get("RFC822.SIZE"), 2**63)
                if uid is not None and size is not None:
                    sizes[uid] = (size, has_seen(items.get("FLAGS")))

        try:
            self._command(b"UID", b"FETCH", b"1:*", b"(UID RFC822.SIZE FLAGS)", on_data=on_data)
        except _Refused as exc:
            raise ProtocolError(f"server refused to list folder '{folder}': {exc.text}")
        return sizes

    # The header block by BODY.PEEK[HEADER] (retrieval/identity.py), a hundred
    # messages per command: IMAP sizes are exact, so this only tells apart a
    # reused UID whose new message has the old one's size.
    checks_headers = True
    HEADERS_PER_FETCH = 100

    def header_digests(self, msgs: list[RemoteMessage]) -> dict[str, str]:
        found: dict[str, str] = {}
        by_folder: dict[tuple[str, int], dict[int, str]] = {}
        for msg in msgs:
            folder, uidvalidity, uid = _parse_message(msg)
            by_folder.setdefault((folder, uidvalidity), {})[uid] = msg.uid

        def on_data(response: Response) -> None:
            if response.name != "FETCH":
                return
            items = fetch_items(response)
            uid, header = number(items.get("UID")), items.get("BODY[HEADER]")
            if uid in wanted and isinstance(header, bytes):
                found[wanted[uid]] = header_digest(header.split(b"\n"))

        for (folder, uidvalidity), wanted_all in by_folder.items():
            self._use(folder, uidvalidity)
            uids = sorted(wanted_all)
            for start in range(0, len(uids), self.HEADERS_PER_FETCH):
                chunk = uids[start : start + self.HEADERS_PER_FETCH]
                wanted = {uid: wanted_all[uid] for uid in chunk}
                try:
                    for uid_set in uid_sets(chunk):
                        self._command(b"UID", b"FETCH", uid_set, b"(UID BODY.PEEK[HEADER])",
                                      on_data=on_data)
                except _Refused:
                    return found  # no header check here: the size alone decides
        return found

    def _use(self, folder: str, uidvalidity: int) -> None:
        if self._selected != folder or self.uidvalidity.get(folder) != uidvalidity:
            self._select(folder, expect=uidvalidity)

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
        self._plan.clear()
        self._flight.clear()
        if stream is not None:
            stream.close()


def has_seen(flags) -> bool:
    """Whether a FETCH FLAGS value (a parenthesised list) holds \\Seen; anything
    malformed counts as unseen, the state a copy had before flags were kept."""
    return isinstance(flags, list) and any(
        isinstance(f, bytes) and f.upper() == b"\\SEEN" for f in flags
    )


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
