"""NOTIFY (RFC 5465) for the watcher: the STATUS lines a server sends when a message comes
into (or leaves) a folder that is not open, and how folders are named in them."""

import re

from popadmin.net.errors import ProtocolError

from .imap_parse import mutf7_encode

# "* STATUS <mailbox> (UIDNEXT 7 MESSAGES 3 ...)"; a mailbox sent as a literal does not match.
_STATUS = re.compile(rb'^\* STATUS (?:"((?:[^"\\]|\\.)*)"|([^\s"(]+)) \(([^)]*)\)', re.I)


class NoNotify(ProtocolError):
    """The server does not offer NOTIFY (or refused it): one connection per folder instead."""


def wire_name(folder: str) -> bytes:
    """The folder's name as the server gives it in a STATUS line."""
    return b"INBOX" if folder.upper() == "INBOX" else mutf7_encode(folder)


def status_of(line: bytes) -> tuple[bytes, dict[str, int]] | None:
    """(mailbox as sent, {item: number}) of a STATUS line; None if it cannot be read."""
    found = _STATUS.match(line)
    if not found:
        return None
    if found.group(1) is not None:
        name = re.sub(rb"\\(.)", rb"\1", found.group(1))
    else:
        name = found.group(2)
    if name.upper() == b"INBOX":
        name = b"INBOX"
    words = found.group(3).split()
    return name, {k.upper().decode("latin-1"): int(v)
                  for k, v in zip(words[::2], words[1::2], strict=False) if v.isdigit()}
