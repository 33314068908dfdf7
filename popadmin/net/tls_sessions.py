"""TLS session resumption for short connections made with asyncio.

A cheap check (retrieval/check_batch.py) opens one short TLS connection per
account, and most of them go to a few servers. A resumed handshake skips the
certificate exchange and its verification on both sides: less CPU here and,
more so, on the server. The server decides whether a session may be resumed
(TLS 1.3 tickets, or a TLS 1.2 session id); a refused one costs nothing more
than a full handshake.

asyncio's TLS layer calls only `wrap_bio` on the context it is given, without
a session, so `ResumingContext` passes the session in. The session is kept
per server *and* per trust configuration (the context: verification on or
off, CA file), since a session resumed skips the certificate check: one made
under a weaker configuration must never stand for a stricter one. A TLS 1.3
ticket arrives after the handshake, so the session is read when the
connection has carried the server's first reply (`remember`).
"""

from __future__ import annotations

import ssl
import threading
import time

_lock = threading.Lock()
_sessions: dict[tuple, ssl.SSLSession] = {}
_kept_at: dict[tuple, float] = {}
# Servers kept at most; beyond it the oldest entry goes (a dict keeps insertion order).
MAX_SERVERS = 4096


def _key(context: ssl.SSLContext, host: str, port: int) -> tuple:
    return (id(context), host.lower(), port)


class ResumingContext:
    """Stands in for `context` in asyncio.open_connection(ssl=...), offering the
    session last kept for this server."""

    def __init__(self, context: ssl.SSLContext, host: str, port: int):
        self.context = context
        self.key = _key(context, host, port)
        with _lock:
            self.session = _sessions.get(self.key)

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None,
                 session=None):
        return self.context.wrap_bio(incoming, outgoing, server_side=server_side,
                                     server_hostname=server_hostname,
                                     session=session or self.session)

    def __getattr__(self, name):
        # Anything else asyncio may read (e.g. check_hostname) is the real context's.
        return getattr(self.context, name)


def remember(key: tuple, sslobj) -> None:
    """Keep the connection's session for the next connection to the same server.

    At most one a second per server: reading a session out of OpenSSL costs
    about half a millisecond, and a server with several processes (each with
    its own ticket keys) would otherwise have every full handshake replace it.
    """
    now = time.monotonic()
    with _lock:
        if now - _kept_at.get(key, -1.0) < 1.0:
            return
        _kept_at[key] = now
    session = getattr(sslobj, "session", None) if sslobj is not None else None
    if session is None or not session.has_ticket and not session.id:
        return
    with _lock:
        _sessions.pop(key, None)
        _sessions[key] = session
        while len(_sessions) > MAX_SERVERS:
            dropped = next(iter(_sessions))
            _sessions.pop(dropped)
            _kept_at.pop(dropped, None)


def forget_all() -> None:
    with _lock:
        _sessions.clear()
        _kept_at.clear()
