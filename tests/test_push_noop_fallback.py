"""A server without IDLE: the watcher keeps the connection and asks with NOOP.

Dovecot always offers IDLE, so this one fault is played by the fake server
(tests/fakeserver.py). The watcher only EXAMINEs and NOOPs: it never SELECTs,
stores flags, expunges or fetches.
"""

import re

import pytest

from retrieval import dispatcher
from retrieval.models import PushWatch, RemoteAccount
from tests.factories import make_mailbox
from tests.fakeserver import FakeServer, ImapMailbox
from tests.watching import watcher_running
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = b"Subject: hello\r\n\r\nhello\r\n"


class NoIdleMailbox(ImapMailbox):
    """No IDLE in its capabilities; NOOP reports messages that arrived since it was last asked."""

    def cmd_EXAMINE(self, conn, tag, args, state):
        state["selected"] = "INBOX"
        state["told"] = len(self.folders["INBOX"])
        conn.sendline(b"* %d EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT %d] ok"
                      % (state["told"], state["told"] + 1))
        self.ok(conn, tag, b"[READ-ONLY] examined")

    def cmd_NOOP(self, conn, tag, args, state):
        now = len(self.folders["INBOX"])
        if now != state.get("told"):
            conn.sendline(b"* %d EXISTS" % now)
            state["told"] = now
        self.ok(conn, tag)

    def cmd_LOGOUT(self, conn, tag, args, state):
        conn.sendline(b"* BYE bye")
        self.ok(conn, tag)
        return "hangup"


def test_without_idle_new_mail_is_found_by_noop_on_the_held_connection(settings, monkeypatch):
    settings.POPADMIN_PUSH_NOOP_SECONDS = 1
    sent = []
    monkeypatch.setattr(dispatcher, "enqueue_fetch",
                        lambda pk, trigger, task_id=None: sent.append((pk, trigger)))
    mailbox = NoIdleMailbox({"INBOX": []})
    with FakeServer(mailbox) as server:
        account = RemoteAccount(owner=make_mailbox(), protocol="imap", security="none",
                                host="127.0.0.1", port=server.port, username="alice")
        account.set_password("secret")
        account.save()
        with watcher_running():
            wait_for(lambda: PushWatch.objects.filter(
                account=account, state=PushWatch.State.NOOP).exists(), timeout=20,
                what="the account to be polled with NOOP")
            assert sent == []
            mailbox.folders["INBOX"].append({"uid": 1, "data": HELLO, "flags": set()})
            wait_for(lambda: sent, timeout=10, what="the push")
        assert sent == [(account.pk, "push")]
        watch = PushWatch.objects.get(account=account)
        assert watch.idle_supported is False
        verbs = {re.match(rb"\S+ (\S+)", line).group(1).upper() for line in server.received
                 if re.match(rb"\S+ \S+", line)}
    # One connection, held: signed in once, then only NOOPs on it.
    assert verbs <= {b"CAPABILITY", b"AUTHENTICATE", b"EXAMINE", b"NOOP", b"LOGOUT"}
    assert sum(1 for line in server.received if b"AUTHENTICATE" in line.upper()) == 1
