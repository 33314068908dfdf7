"""Which servers a check sends its whole conversation to in one write.

Pipelining (POP3: RFC 2449's PIPELINING capability; IMAP: RFC 3501 5.5)
turns a check's four or five round trips into one after the greeting: less
waiting, and fewer reads, writes and TLS records on both sides, which on a
busy machine is CPU the server and the checker both get back.

POP3 servers say whether they take it (CAPA); the answer is kept per server
for this process, so CAPA is asked once per server, not per check. IMAP has
no capability for it and every server this was tried with takes it; a server
whose pipelined conversation broke down (anything but a refused sign-in) is
talked to one command at a time for a while. Nothing here can hide mail: a
check that failed is handed to the fetch session, as every failed check is.
"""

from __future__ import annotations

import threading
import time

# How long a server whose pipelined conversation failed is talked to one
# command at a time (and, for POP3, asked CAPA again afterwards).
SEQUENTIAL_FOR = 3600.0
MAX_SERVERS = 4096

_lock = threading.Lock()
# POP3: server -> whether CAPA announced PIPELINING.
_pop3: dict[tuple, bool] = {}
# Either protocol: server -> monotonic time until which it is talked to sequentially.
_sequential: dict[tuple, float] = {}


def key(protocol: str, host: str, port: int, security: str) -> tuple:
    return (protocol, host.lower(), port, security)


def pop3_known(server: tuple) -> bool | None:
    """Whether this POP3 server pipelines; None until its CAPA was read."""
    if _sequential_now(server):
        return False
    return _pop3.get(server)


def pop3_learn(server: tuple, pipelining: bool) -> None:
    with _lock:
        _pop3[server] = pipelining
        while len(_pop3) > MAX_SERVERS:
            _pop3.pop(next(iter(_pop3)))


def imap_pipelines(server: tuple) -> bool:
    return not _sequential_now(server)


def failed(server: tuple) -> None:
    """A pipelined conversation with this server broke down: sequential for a while."""
    with _lock:
        _pop3.pop(server, None)
        _sequential[server] = time.monotonic() + SEQUENTIAL_FOR
        while len(_sequential) > MAX_SERVERS:
            _sequential.pop(next(iter(_sequential)))


def _sequential_now(server: tuple) -> bool:
    until = _sequential.get(server)
    if until is None:
        return False
    if until > time.monotonic():
        return True
    with _lock:
        _sequential.pop(server, None)
    return False


def forget_all() -> None:
    with _lock:
        _pop3.clear()
        _sequential.clear()
