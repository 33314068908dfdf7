"""The Dovecot fixture, exercised with the stdlib clients only.

These pin what later tests rely on: seeded mail is visible, TLS verifies
against the fixture's CA (and only against it), users added mid-session can
log in at once, and messages() reflects what the server kept.
"""

import imaplib
import poplib
import re
import smtplib
import ssl
import time

import pytest

TIMEOUT = 10


def trusted(dovecot):
    return ssl.create_default_context(cafile=str(dovecot.ca_file))


def pop3_login(dovecot, user, password):
    client = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=TIMEOUT)
    client.user(user)
    client.pass_(password)
    return client


def test_pop3_stat_shows_seeded_messages(dovecot, mail_user):
    user, password = mail_user
    dovecot.deliver_many(user, 3, size=1000)

    client = pop3_login(dovecot, user, password)
    try:
        count, size = client.stat()
        assert count == 3, dovecot.log_text()
        # Dovecot reports CRLF sizes; seeded files hold LF, so expect more.
        assert size >= 3000
        _, lines, _ = client.retr(1)
        assert any(line.startswith(b"Message-ID: <") for line in lines)
    finally:
        client.quit()


def test_pop3_uidl_uses_configured_format(dovecot, mail_user):
    user, password = mail_user
    dovecot.deliver_many(user, 2)

    client = pop3_login(dovecot, user, password)
    try:
        _, listing, _ = client.uidl()
    finally:
        client.quit()
    uidls = [line.split()[1].decode() for line in listing]
    # %08Xu%08Xv: IMAP UID then UIDVALIDITY, zero-padded lowercase hex
    # (Dovecot's X is lowercase, unlike printf's).
    assert [u[:8] for u in uidls] == ["00000001", "00000002"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", uidl) for uidl in uidls), uidls
    assert uidls[0][8:] == uidls[1][8:]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_pop3s_verifies_against_ca_file(dovecot, mail_user, host):
    user, password = mail_user
    dovecot.deliver_many(user, 1)

    client = poplib.POP3_SSL(host, dovecot.pop3s_port, context=trusted(dovecot), timeout=TIMEOUT)
    try:
        client.user(user)
        client.pass_(password)
        assert client.stat()[0] == 1
    finally:
        client.quit()


def test_pop3s_is_untrusted_by_system_default_context(dovecot):
    with pytest.raises(ssl.SSLCertVerificationError):
        poplib.POP3_SSL(
            dovecot.host,
            dovecot.pop3s_port,
            context=ssl.create_default_context(),
            timeout=TIMEOUT,
        )


def test_stls_on_plain_pop3_port(dovecot, mail_user):
    user, password = mail_user
    dovecot.deliver_many(user, 2)

    client = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=TIMEOUT)
    try:
        assert "STLS" in client.capa()
        client.stls(context=trusted(dovecot))
        assert client.sock.version() is not None  # now a TLS socket
        client.user(user)
        client.pass_(password)
        assert client.stat()[0] == 2
    finally:
        client.quit()


def test_imap_select_shows_count(dovecot, mail_user):
    user, password = mail_user
    dovecot.deliver_many(user, 4)

    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=TIMEOUT)
    try:
        client.login(user, password)
        typ, data = client.select("INBOX")
        assert (typ, data) == ("OK", [b"4"]), dovecot.log_text()
    finally:
        client.logout()


def test_imap_starttls_imaps_and_seeded_folder(dovecot, mail_user):
    user, password = mail_user
    dovecot.deliver_many(user, 1)
    dovecot.deliver_many(user, 2, folder="Archive")

    plain = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=TIMEOUT)
    try:
        plain.starttls(ssl_context=trusted(dovecot))
        plain.login(user, password)
        assert plain.select("Archive") == ("OK", [b"2"])
    finally:
        plain.logout()

    secure = imaplib.IMAP4_SSL(
        "localhost", dovecot.imaps_port, ssl_context=trusted(dovecot), timeout=TIMEOUT
    )
    try:
        secure.login(user, password)
        assert secure.select("INBOX") == ("OK", [b"1"])
    finally:
        secure.logout()


def test_users_added_after_start_log_in_at_once(dovecot):
    # Several in a row: a shared passwd file failed most of these because
    # Dovecot re-reads it at most once a second.
    for _ in range(5):
        user, password = dovecot.add_user()
        pop3_login(dovecot, user, password).quit()
        imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=TIMEOUT)
        try:
            imap.login(user, password)
        finally:
            imap.logout()


def test_chosen_name_and_password(dovecot):
    user, password = dovecot.add_user("alice@example.test", "plain words")
    assert (user, password) == ("alice@example.test", "plain words")
    pop3_login(dovecot, user, password).quit()
    with pytest.raises(FileExistsError):
        dovecot.add_user("alice@example.test", "another")


def test_wrong_password_fails_quickly(dovecot, mail_user):
    user, _ = mail_user
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(poplib.error_proto, match="AUTH"):
            pop3_login(dovecot, user, "wrong")
        # No growing auth penalty: each failure answers on the next tick.
        assert time.monotonic() - started < 1.5


def test_lmtp_delivery_appears_in_messages(dovecot, mail_user):
    user, _ = mail_user
    message = b"From: a@example.test\r\nSubject: via lmtp\r\n\r\nhello over lmtp\r\n"

    lmtp = smtplib.LMTP(dovecot.host, dovecot.lmtp_port, timeout=TIMEOUT)
    try:
        refused = lmtp.sendmail("a@example.test", [user], message)
    finally:
        lmtp.quit()

    assert refused == {}
    (stored,) = dovecot.messages(user)
    assert b"Subject: via lmtp" in stored
    assert b"hello over lmtp\n" in stored


def test_lmtp_rejects_unknown_user(dovecot):
    lmtp = smtplib.LMTP(dovecot.host, dovecot.lmtp_port, timeout=TIMEOUT)
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            lmtp.sendmail("a@example.test", ["nobody-here"], b"Subject: x\r\n\r\nx\r\n")
    finally:
        lmtp.quit()


def test_pop3_dele_removes_message_from_disk(dovecot, mail_user):
    user, password = mail_user
    dovecot.deliver(user, b"Subject: keep\n\nkeep me\n")
    dovecot.deliver(user, b"Subject: drop\n\ndrop me\n")
    assert len(dovecot.messages(user)) == 2

    client = pop3_login(dovecot, user, password)
    try:
        _, lines, _ = client.retr(2)
        assert b"Subject: drop" in lines
        client.dele(2)
    finally:
        client.quit()

    assert dovecot.messages(user) == [b"Subject: keep\n\nkeep me\n"], dovecot.log_text()


def test_log_records_logins(dovecot, mail_user):
    user, password = mail_user
    pop3_login(dovecot, user, password).quit()
    assert f"Login: user=<{user}>" in dovecot.log_text()


def test_a_stopped_server_leaves_no_process_and_frees_its_ports():
    import os
    import socket

    from tests.dovecot import Dovecot
    from tests.workers import wait_for

    server = Dovecot().start()
    user, password = server.add_user()
    client = imaplib.IMAP4(server.host, server.imap_port, timeout=TIMEOUT)
    client.login(user, password)  # a login process and an imap process
    group = server._proc.pid
    ports = [getattr(server, name) for name in Dovecot.PORTS]

    server.stop()

    def group_gone():
        # Killed at once; the children, orphaned, are reaped by init soon after.
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(group_gone, timeout=30, what="the server's processes to end")
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((server.host, port))
    with pytest.raises((OSError, imaplib.IMAP4.abort)):
        client.noop()
