"""Opening a TCP connection, with every failure a readable ConnectError."""

from __future__ import annotations

import socket
from collections.abc import Callable

from .errors import ConnectError
from .text import printable

# (host, port, timeout) -> the checked addresses to connect to (reach.py).
Reach = Callable[[str, int, float], list[str]]


def open_socket(host: str, port: int, timeout: float, reach: Reach | None = None) -> socket.socket:
    """A TCP connection, with every failure turned into a readable ConnectError.

    With `reach` (see reach.py) the host is resolved and
    checked once and the connection goes to the checked addresses only.
    """
    where = f"{printable(host, 100)}:{port}"
    targets = [host] if reach is None else reach(host, port, timeout)
    failure = None
    for target in targets:
        try:
            sock = socket.create_connection((target, port), timeout=timeout)
        except socket.gaierror:
            raise ConnectError(f"host not found: {printable(host, 100)}")
        except ConnectionRefusedError:
            failure = ConnectError(f"connection refused by {where}")
        except TimeoutError:
            failure = ConnectError(f"timed out connecting to {where} after {timeout:g} s")
        except OSError as exc:
            failure = ConnectError(f"cannot connect to {where}: {exc.strerror or exc}")
        else:
            sock.settimeout(timeout)
            return sock
    raise failure or ConnectError(f"no address to connect to for {where}")
