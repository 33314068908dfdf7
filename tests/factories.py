"""Builders for the rows most tests need; real objects, no mocks."""

import itertools
import uuid
from pathlib import Path

from accounts.models import Mailbox
from retrieval.models import RemoteAccount

_seq = itertools.count(1)


def make_mailbox(address=None, **fields) -> Mailbox:
    address = address or f"user{next(_seq)}-{uuid.uuid4().hex[:8]}@local.test"
    return Mailbox.objects.create(address=address, **fields)


def make_account(dovecot, username, password, owner=None, **fields) -> RemoteAccount:
    """An account on the test Dovecot; POP3 over TLS verified against its CA by default."""
    owner = owner or make_mailbox()
    security = fields.pop("security", "tls")
    protocol = fields.pop("protocol", "pop3")
    ports = {
        ("pop3", "tls"): dovecot.pop3s_port,
        ("pop3", "starttls"): dovecot.pop3_port,
        ("pop3", "none"): dovecot.pop3_port,
        ("imap", "tls"): dovecot.imaps_port,
        ("imap", "starttls"): dovecot.imap_port,
        ("imap", "none"): dovecot.imap_port,
    }
    fields.setdefault("port", ports[(protocol, security)])
    # The tests of retrieval mostly check that mail leaves the server after it is
    # stored; new accounts leave a copy by default (tests/test_keep_by_default.py).
    fields.setdefault("keep_policy", RemoteAccount.Keep.DELETE)
    account = RemoteAccount(
        owner=owner,
        protocol=protocol,
        security=security,
        host=fields.pop("host", "localhost"),
        username=username,
        **fields,
    )
    account.set_password(password)
    account.save()
    return account


def local_messages(mailbox: Mailbox, folder: str = "") -> list[bytes]:
    """What our Maildir delivery stored for the mailbox (new/ only: nobody reads it)."""
    base = Path(mailbox.maildir)
    if folder:
        base = base / ("." + folder.replace("/", "."))
    new = base / "new"
    if not new.is_dir():
        return []
    return [p.read_bytes() for p in sorted(new.iterdir())]
