"""TLS contexts and handshakes with errors an administrator can act on."""

from __future__ import annotations

import os
import socket
import ssl
from functools import lru_cache
from typing import Protocol

from .errors import TLSError


class TLSOptions(Protocol):
    """What TLS needs from a connection's settings (a mailbox's or a relay's)."""

    host: str
    verify_tls: bool
    ca_file: str | None


def make_context(params: TLSOptions) -> ssl.SSLContext:
    # Building a context loads the system CA store: ~40 ms, most of an empty
    # poll. Contexts are safe to share, so keep one per configuration (the CA
    # file's mtime is in the key, so a replaced file is read again).
    mtime = None
    if params.ca_file:
        try:
            mtime = os.stat(params.ca_file).st_mtime_ns
        except OSError:
            mtime = None  # _new_context reports the unreadable file
    return _cached_context(params.verify_tls, params.ca_file, mtime)


@lru_cache(maxsize=16)
def _cached_context(verify_tls: bool, ca_file: str | None, _mtime) -> ssl.SSLContext:
    return _new_context(verify_tls, ca_file)


def _new_context(verify_tls: bool, ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        # In addition to the system store, so a private CA does not break public ones.
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise TLSError(f"cannot load the CA file {ca_file}: {reason}")
    if verify_tls:
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def wrap_socket(sock: socket.socket, context: ssl.SSLContext, hostname: str) -> ssl.SSLSocket:
    """Handshake over an open connection; on failure the socket is closed."""
    try:
        return context.wrap_socket(sock, server_hostname=hostname)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        reason = exc.verify_message or exc.reason or "verification failed"
        raise TLSError(f"TLS certificate of {hostname} is not trusted: {reason}")
    except ssl.SSLError as exc:
        sock.close()
        reason = exc.reason or str(exc)
        if reason == "WRONG_VERSION_NUMBER":
            reason = "the server did not answer in TLS (is this port for plain or STARTTLS?)"
        raise TLSError(f"TLS handshake with {hostname} failed: {reason}")
    except TimeoutError:
        sock.close()
        raise TLSError(f"timed out during the TLS handshake with {hostname}")
    except OSError as exc:
        sock.close()
        reason = exc.strerror or "connection closed"
        raise TLSError(f"TLS handshake with {hostname} failed: {reason}")


def connect_tls(sock: socket.socket, params: TLSOptions) -> ssl.SSLSocket:
    return wrap_socket(sock, make_context(params), params.host)
