"""Folders on the test Dovecot for the push tests: create, APPEND, and Dovecots with and
without NOTIFY (RFC 5465); without it a watcher needs one connection per folder."""

import imaplib
import ssl

import pytest

from retrieval.protocols.imap_parse import mailbox
from tests.dovecot import Dovecot, serving

# Dovecot's IDLE and NOTIFY learn of new mail through inotify, and the kernel's
# 128 instances per user are shared by every Dovecot on the machine (mail's
# uid): past them Dovecot looks every 30 s. Looking every second keeps the
# tests' "within seconds" about the watcher, whatever else runs.
IDLE_CHECK = "mailbox_idle_check_interval = 1 secs\n"
# Dovecot 2.3 offers NOTIFY after login; this capability list is its own without it.
WITHOUT_NOTIFY = IDLE_CHECK + """\
protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS \
MOVE NAMESPACE CHILDREN
}
"""


# Imported by a test module, these stand in for conftest's `dovecot` and `mail_user` there.
@pytest.fixture(scope="module", name="dovecot")
def dovecot_without_notify():
    with serving(Dovecot(extra_config=WITHOUT_NOTIFY)) as server:
        yield server


@pytest.fixture(name="mail_user")
def mail_user_without_notify(dovecot):
    return dovecot.add_user()


@pytest.fixture(scope="module", name="dovecot")
def dovecot_with_notify():
    with serving(Dovecot(extra_config=IDLE_CHECK)) as server:
        yield server


@pytest.fixture(name="mail_user")
def mail_user_with_notify(dovecot):
    return dovecot.add_user()


def _name(folder: str) -> str:
    """The folder as a command argument (quoted, modified UTF-7), as a fetch sends it."""
    return mailbox(folder).decode("ascii")


def imap(dovecot, user, password):
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    conn = imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=context)
    conn.login(user, password)
    return conn


def append(dovecot, user, password, folder, subject):
    message = (f"From: s@example.test\r\nSubject: {subject}\r\n"
               f"Message-ID: <{subject}@folders.test>\r\n\r\nhello\r\n").encode()
    conn = imap(dovecot, user, password)
    try:
        status, _ = conn.append(_name(folder), None, None, message)
        assert status == "OK"
    finally:
        conn.logout()


def create_folder(dovecot, user, password, folder):
    conn = imap(dovecot, user, password)
    try:
        assert conn.create(_name(folder))[0] == "OK"
    finally:
        conn.logout()


def flags(dovecot, user, password, folder) -> list[bytes]:
    """The FLAGS of each message in the folder, read without changing them."""
    conn = imap(dovecot, user, password)
    try:
        conn.select(_name(folder), readonly=True)
        _, data = conn.fetch("1:*", "(FLAGS)")
    finally:
        conn.logout()
    return [d for d in data if d]
