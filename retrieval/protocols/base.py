"""The one small interface every protocol client implements.

The engine only talks to a MailSession, so it has no protocol branches.
Every error a client raises is a ProtocolError subclass (popadmin.net.errors)
whose message is a readable reason fit for the run history (never
containing the password).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import BinaryIO

from popadmin.net.errors import ProtocolError
from popadmin.net.sockets import Reach

# Limit on a whole UIDL/LIST/SEARCH response (invariant "Hostile input is
# contained"); the line limit
# is the stream's (popadmin.net.stream.MAX_LINE).
MAX_LISTING = 256 * 1024 * 1024


class AuthError(ProtocolError):
    """The server refused the login."""


class FetchFailed(ProtocolError):
    """One message could not be fetched whole: the server refused it, sent it
    cut short (retrieval/protocols/sizes.py), or the connection failed while
    it was arriving. The rest of the mailbox may still be fetched:
    `connected` says whether this session can go on with the next message
    (False: the connection is closed, a new one is needed)."""

    def __init__(self, text: str, connected: bool):
        super().__init__(text)
        self.connected = connected


class SignInRefused(AuthError):
    """The server refused an OAuth2 access token (most often: the grant was revoked at the
    provider while the token was still cached). The session builder refreshes once."""


@dataclass(frozen=True)
class ConnectionParams:
    host: str
    port: int
    security: str  # "tls" | "starttls" | "none"
    username: str
    password: str = field(repr=False)
    verify_tls: bool = True
    timeout: float = 60.0
    ca_file: str | None = None  # extra trusted CA bundle (POPADMIN_CA_FILE)
    folders: tuple[str, ...] = ("INBOX",)  # IMAP only
    # Restricted accounts: (host, port, timeout) -> the checked addresses to
    # connect to, raising if the host may not be reached (popadmin.net.reach).
    reach: Reach | None = field(
        default=None, repr=False, compare=False
    )
    # "password", or an OAuth2 SASL mechanism ("xoauth2" | "oauthbearer") that
    # logs in with `bearer`, a fresh access token (never logged, never shown).
    sasl: str = "password"
    bearer: str = field(default="", repr=False)


@dataclass(frozen=True)
class RemoteMessage:
    uid: str  # stable identity for seen-state (UIDL, folder/uidvalidity/uid, or sha256:...)
    handle: str  # session-local handle: POP3 message number, IMAP "folder\0uid"
    size: int  # as reported by the server (may be approximate)
    # IMAP: the message had \Seen at the source when listed, so its copy keeps
    # it (IMAP APPEND delivery); POP3 has no flags, so always False there.
    seen: bool = False
    # POP3: the UIDL this message shares with one listed before it; its uid is
    # then made unique by position (retrieval/identity.py makes it stable).
    repeat_of: str = ""


class MailSession(ABC):
    """One connection to one remote mailbox.

    Usage by the engine: connect(); list_messages(); fetch()/delete() per
    message; commit() to make deletions permanent and close. close() without
    commit() abandons pending deletions (POP3 drops the connection without
    QUIT so the server rolls back; IMAP closes without expunging).
    """

    def __init__(self, params: ConnectionParams):
        self.params = params
        # Things the run should report that are not errors (e.g. an IMAP
        # server that cannot expunge only our messages).
        self.warnings: list[str] = []
        # IMAP: folder -> UIDVALIDITY seen at SELECT; uids are
        # "<folder>/<uidvalidity>/<uid>". Empty for POP3.
        self.uidvalidity: dict[str, int] = {}

    @abstractmethod
    def connect(self) -> None:
        """Open the connection, set up TLS as the params require, and log in."""

    @abstractmethod
    def list_messages(self) -> list[RemoteMessage]:
        """Every message in the mailbox (all folders for IMAP), oldest first."""

    @abstractmethod
    def fetch(self, msg: RemoteMessage, out: BinaryIO, max_bytes: int | None = None) -> int:
        """Stream the message into `out` with LF line endings; return bytes written.

        Raises ProtocolError if the message arrives incomplete (the caller
        must then discard what was written) and MessageTooLarge beyond max_bytes.
        """

    def prefetch(self, msgs: list[RemoteMessage]) -> None:
        """The messages about to be fetched, in order: a hint a client may use
        to ask for them ahead (POP3 PIPELINING); by default it does nothing."""
        return None

    # Whether header_digests() can answer (POP3 TOP, IMAP BODY.PEEK[HEADER]);
    # without it a message's identity beyond its uid is its listed size alone
    # (retrieval/identity.py).
    checks_headers = False

    def header_digests(self, msgs: list[RemoteMessage]) -> dict[str, str]:
        """uid -> identity.header_digest of each message's headers as the server
        sends them now; messages it cannot tell are left out."""
        return {}

    @abstractmethod
    def delete(self, msg: RemoteMessage) -> None:
        """Mark the message deleted; permanent only after commit()."""

    def delete_many(self, msgs: list[RemoteMessage]) -> None:
        """delete() each; a client may send them together (POP3 PIPELINING)."""
        for msg in msgs:
            self.delete(msg)

    @abstractmethod
    def commit(self) -> None:
        """Make deletions permanent and log out (POP3 QUIT, IMAP UID EXPUNGE + LOGOUT)."""

    @abstractmethod
    def close(self) -> None:
        """Drop the connection without committing; safe to call more than once."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
