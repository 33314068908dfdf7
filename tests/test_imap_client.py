"""IMAPSession against the real Dovecot of tests/dovecot.py."""

import contextlib
import imaplib
import io
import re
import ssl
import tempfile
import tracemalloc

import pytest

from popadmin.net.errors import MessageTooLarge, ProtocolError
from retrieval.protocols.base import AuthError, ConnectionParams
from retrieval.protocols.imap import IMAPSession

MESSAGE = b"From: a@example.test\nSubject: hello\n\nhello\n"


def params(dovecot, user, password, security="tls", **overrides) -> ConnectionParams:
    port = dovecot.imaps_port if security == "tls" else dovecot.imap_port
    values = dict(ca_file=str(dovecot.ca_file), timeout=10.0)
    values.update(overrides)
    return ConnectionParams("localhost", port, security, user, password, **values)


def login(dovecot, mail_user, cls=IMAPSession, **overrides) -> IMAPSession:
    session = cls(params(dovecot, *mail_user, **overrides))
    session.connect()
    return session


def fetch(session, msg, max_bytes=None) -> bytes:
    out = io.BytesIO()
    assert session.fetch(msg, out, max_bytes) == len(out.getvalue())
    return out.getvalue()


@contextlib.contextmanager
def other_client(dovecot, mail_user, folder="INBOX"):
    """Another IMAP client on the same mailbox (imaplib is fine for tiny test messages)."""
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    imap = imaplib.IMAP4_SSL("localhost", dovecot.imaps_port, ssl_context=context)
    imap.login(*mail_user)
    imap.select(folder)
    try:
        yield imap
    finally:
        imap.logout()  # never CLOSE: that would expunge


def flags(dovecot, mail_user, folder="INBOX") -> list[bytes]:
    with other_client(dovecot, mail_user, folder) as imap:
        _, data = imap.uid("FETCH", "1:*", "(FLAGS)")
    return [re.search(rb"FLAGS \(([^)]*)\)", line).group(1) for line in data if line]


class LoginCommand(IMAPSession):
    """As with a server that offers no AUTH=PLAIN: LOGIN with quoted strings or literals."""

    def _login(self):
        self.capabilities.discard("AUTH=PLAIN")
        super()._login()


class NoSaslIR(IMAPSession):
    def _login(self):
        self.capabilities.discard("SASL-IR")
        super()._login()


class NoUidplus(IMAPSession):
    def _login(self):
        super()._login()
        self.capabilities.discard("UIDPLUS")


@pytest.mark.parametrize("security", ["tls", "starttls", "none"])
def test_login_and_listing_with_each_security(dovecot, mail_user, security):
    dovecot.deliver_many(mail_user[0], 3, size=1000)
    session = login(dovecot, mail_user, security=security)
    assert session.auth_method == "AUTHENTICATE PLAIN"
    assert session._stream.is_tls == (security != "none")
    assert "UIDPLUS" in session.capabilities  # post-login capabilities were read
    msgs = session.list_messages()
    uidvalidity = session.uidvalidity["INBOX"]
    assert [m.uid for m in msgs] == [f"INBOX/{uidvalidity}/{n}" for n in (1, 2, 3)]
    assert [m.handle for m in msgs] == [f"INBOX\0{n}" for n in (1, 2, 3)]
    sizes = [len(m.replace(b"\n", b"\r\n")) for m in dovecot.messages(mail_user[0])]
    assert [m.size for m in msgs] == sizes
    session.commit()
    session.close()
    # UIDVALIDITY is what makes the uids stable from one session to the next.
    again = login(dovecot, mail_user, security=security)
    assert again.list_messages() == msgs and again.uidvalidity == {"INBOX": uidvalidity}
    again.close()


@pytest.mark.parametrize("cls", [IMAPSession, NoSaslIR, LoginCommand])
@pytest.mark.parametrize("password", [None, "pässwörd ü ∑ 'q\" \\x"])
def test_any_password_logs_in_with_every_method(dovecot, cls, password):
    user = dovecot.add_user(password=password)  # the default one has quotes, \ and a space
    session = login(dovecot, user, cls=cls, security="none")
    expected = "LOGIN" if cls is LoginCommand else "AUTHENTICATE PLAIN"
    assert session.auth_method == expected
    assert session.list_messages() == []
    session.close()


def test_a_wrong_password_is_an_auth_error_without_the_password(dovecot, mail_user):
    for cls in (IMAPSession, LoginCommand):
        with pytest.raises(AuthError) as info:
            login(dovecot, (mail_user[0], "hunter2-wrong"), cls=cls)
        assert (
            str(info.value)
            == "login refused by server: [AUTHENTICATIONFAILED] Authentication failed."
        )


def test_fetch_returns_the_exact_bytes(dovecot, mail_user):
    user = mail_user[0]
    messages = [
        b"Subject: \xe4\xf6\xfc 8-bit\n\nlatin-1 \xe4 and utf-8 \xc3\xa4, \xff\xfe\x80\n",
        b"Subject: crlf\r\n\r\nwindows\r\nline endings\r\n",
        b"Subject: long\n\n" + b"x" * 100_000 + b"\nno final newline",
        b"Subject: big\n\n" + b"".join(b"%07d \xe2\x82\xac\n" % n for n in range(300_000)),
    ]
    for message in messages:
        dovecot.deliver(user, message)
    session = login(dovecot, mail_user)
    msgs = session.list_messages()
    for msg, message in zip(msgs, messages, strict=True):
        assert fetch(session, msg) == message.replace(b"\r\n", b"\n")
    session.close()


def test_a_big_message_is_streamed_not_held_in_memory(dovecot, mail_user):
    body = b"".join(b"%08d streamed line\n" % n for n in range(250_000))  # 6 MB
    dovecot.deliver(mail_user[0], b"Subject: big\n\n" + body)
    session = login(dovecot, mail_user)
    msg = session.list_messages()[0]
    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        try:
            written = session.fetch(msg, out)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert written == len(body) + 14 == out.tell()
    assert peak < 1024 * 1024
    session.close()


def test_max_bytes_stops_before_reading_the_message(dovecot, mail_user):
    dovecot.deliver(mail_user[0], b"Subject: big\n\n" + b"0123456789\n" * 10_000)
    session = login(dovecot, mail_user)
    out = io.BytesIO()
    with pytest.raises(MessageTooLarge, match="larger than the limit of 5000 bytes"):
        session.fetch(session.list_messages()[0], out, max_bytes=5000)
    assert out.getvalue() == b""
    with pytest.raises(ProtocolError, match="not connected"):
        session.commit()


def test_fetching_leaves_messages_unseen(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    session = login(dovecot, mail_user)
    for msg in session.list_messages():
        fetch(session, msg)
    session.commit()
    assert [b"\\Seen" in f for f in flags(dovecot, mail_user)] == [False, False]


def test_commit_removes_only_our_deletions(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 4)
    with other_client(dovecot, mail_user) as imap:
        imap.uid("STORE", "2", "+FLAGS", "(\\Deleted)")  # another client's, not expunged
    before = dovecot.messages(mail_user[0])
    session = login(dovecot, mail_user)
    msgs = session.list_messages()
    assert len(msgs) == 4
    session.delete(msgs[0])
    session.delete(msgs[2])
    session.commit()
    assert session.warnings == []
    assert dovecot.messages(mail_user[0]) == [before[1], before[3]]
    assert [b"\\Deleted" in f for f in flags(dovecot, mail_user)] == [True, False]


def test_keeping_or_closing_without_commit_leaves_everything(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    session = login(dovecot, mail_user)
    for msg in session.list_messages():
        fetch(session, msg)
    session.commit()  # the keep policy: nothing deleted
    session = login(dovecot, mail_user)
    for msg in session.list_messages():
        session.delete(msg)
    session.close()  # abandoned: not even flagged
    session.close()
    assert len(dovecot.messages(mail_user[0])) == 2
    assert [b"\\Deleted" in f for f in flags(dovecot, mail_user)] == [False, False]


def test_without_uidplus_a_foreign_deleted_message_keeps_ours_flagged(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 3)
    with other_client(dovecot, mail_user) as imap:
        imap.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
    session = login(dovecot, mail_user, cls=NoUidplus)
    session.delete(session.list_messages()[0])
    session.commit()
    assert "1 message(s) marked deleted but not removed" in session.warnings[0]
    assert [b"\\Deleted" in f for f in flags(dovecot, mail_user)] == [True, False, True]
    with other_client(dovecot, mail_user) as imap:
        imap.uid("STORE", "3", "-FLAGS", "(\\Deleted)")  # the other client changed its mind
    session = login(dovecot, mail_user, cls=NoUidplus)
    msgs = session.list_messages()
    session.delete(msgs[0])  # next session: ours alone are marked, so CLOSE is safe
    session.commit()
    assert session.warnings == [] and len(dovecot.messages(mail_user[0])) == 2


def test_several_folders_in_order_and_deletions_in_each(dovecot, mail_user):
    user = mail_user[0]
    dovecot.deliver(user, b"Subject: archived 1\n\n1\n", folder="Archive")
    dovecot.deliver(user, b"Subject: inbox\n\ni\n")
    dovecot.deliver(user, b"Subject: archived 2\n\n2\n", folder="Archive")
    session = login(dovecot, mail_user, folders=("Archive", "inbox", "INBOX"))
    msgs = session.list_messages()
    assert set(session.uidvalidity) == {"Archive", "INBOX"}
    archive, inbox = session.uidvalidity["Archive"], session.uidvalidity["INBOX"]
    assert [m.uid for m in msgs] == [
        f"Archive/{archive}/1",
        f"Archive/{archive}/2",
        f"INBOX/{inbox}/1",
    ]
    bodies = [fetch(session, m) for m in reversed(msgs)]  # each fetch selects its folder
    assert [b.split(b"\n")[0] for b in bodies] == [
        b"Subject: inbox", b"Subject: archived 2", b"Subject: archived 1"
    ]  # fmt: skip
    session.delete(msgs[0])
    session.delete(msgs[2])
    session.commit()
    assert dovecot.messages(user, "Archive") == [b"Subject: archived 2\n\n2\n"]
    assert dovecot.messages(user) == []


def test_a_missing_folder_is_a_clear_error(dovecot, mail_user):
    session = login(dovecot, mail_user, folders=("INBOX", "Nope"))
    with pytest.raises(ProtocolError, match="^folder 'Nope' does not exist on the server$"):
        session.list_messages()
    session.close()


def test_a_non_ascii_folder_name(dovecot, mail_user):
    # Dovecot keeps folder names in modified UTF-7 on disk, as on the wire.
    dovecot.deliver(mail_user[0], b"Subject: draft\n\nd\n", folder="Entw&APw-rfe")
    session = login(dovecot, mail_user, folders=("Entwürfe",))
    msgs = session.list_messages()
    uidvalidity = session.uidvalidity["Entwürfe"]
    assert [m.uid for m in msgs] == [f"Entwürfe/{uidvalidity}/1"]
    assert fetch(session, msgs[0]) == b"Subject: draft\n\nd\n"
    session.delete(msgs[0])
    session.commit()
    assert dovecot.messages(mail_user[0], "Entw&APw-rfe") == []


def test_a_message_expunged_by_another_client_has_vanished(dovecot, mail_user):
    dovecot.deliver_many(mail_user[0], 2)
    session = login(dovecot, mail_user)
    msgs = session.list_messages()
    with other_client(dovecot, mail_user) as imap:
        imap.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
        imap.expunge()
    with pytest.raises(
        ProtocolError, match=r"^message 1 in folder 'INBOX' vanished from the server$"
    ):
        fetch(session, msgs[0])
    assert fetch(session, msgs[1]).startswith(b"From: sender@example.test\n")  # still usable
    session.delete(msgs[0])  # already gone: UID STORE and UID EXPUNGE just find nothing
    session.commit()
    assert len(dovecot.messages(mail_user[0])) == 1
