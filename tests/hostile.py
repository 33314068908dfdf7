"""Engine runs against broken fake servers, for POP3 and IMAP alike.

A Protocol adapter hides how each protocol frames a greeting, a listing and
a message body on the wire, so one fault (a 10 MB line, a drip, a cut) is
written once and played by both servers (tests/fakeserver.py).
fail_then_heal checks what every failure must leave behind: a Run with a
reason a person can read, nothing lost (each message on the server or whole
in the local Maildir, never half, never twice), and a later healthy run
that delivers the rest exactly once.
"""

import uuid
from types import SimpleNamespace

from retrieval import engine
from retrieval.models import RemoteAccount, Run
from retrieval.protocols.imap import IMAPSession
from retrieval.protocols.pop3 import POP3Session
from tests.factories import local_messages, make_mailbox
from tests.fakeserver import FakeServer, ImapMailbox, Pop3Mailbox, stuff


def make_messages(n: int) -> list[bytes]:
    tag = uuid.uuid4().hex[:8]
    return [
        f"From: a@example.test\r\nMessage-ID: <{i}.{tag}@hostile.test>\r\n"
        f"Subject: message {i}\r\n\r\nbody of message {i}\r\n".encode()
        for i in range(1, n + 1)
    ]


def lf(message: bytes) -> bytes:
    return message.replace(b"\r\n", b"\n")


class Pop3:
    name = "pop3"
    session = POP3Session
    greeting = b"+OK fake POP3 ready"
    ok = b"+OK "  # how a line that says all is well begins
    # What the other protocol's server would say first.
    foreign_greeting = b"* OK IMAP4rev1 ready"

    def box(self, messages, **kwargs) -> Pop3Mailbox:
        kwargs.setdefault("uidls", [f"uid-{i}" for i in range(1, len(messages) + 1)])
        return Pop3Mailbox(messages, **kwargs)

    def remote(self, box) -> list[bytes]:
        return list(box.messages)

    def uid(self, n: int) -> str:
        return f"uid-{n}"

    def where(self, n: int) -> str:
        """How errors name the n-th message."""
        return f"message {n}"

    def on_listing(self, box, send):
        """send(conn) answers the command that lists the mailbox."""

        def uidl(conn, arg, state):
            conn.send(b"+OK\r\n")
            return send(conn)

        box.overrides["UIDL"] = uidl

    def on_body(self, box, n, send):
        """send(conn, head, data) answers the download of message n; the
        other messages download as usual. head opens the answer, data is
        the rest of a complete one."""

        def retr(conn, arg, state):
            if arg != b"%d" % n:
                return box.cmd_RETR(conn, arg, state)
            return send(conn, b"+OK\r\n", stuff(box.messages[n - 1]))

        box.overrides["RETR"] = retr

    def passwords_sent(self, server) -> int:
        return server.received.count(b"PASS secret")

    listing_line = b"1 endless-line-of-a-listing-that-never-ends\r\n" * 2000

    def cut_words(self, then, n) -> list[str]:
        if then == "hang up":
            return [f"connection lost while downloading message {n}"]
        # A response that never ends: no final ".", no more bytes, no hang-up.
        return ["no answer from server for 2 s", f"while downloading message {n}"]

    bad_greetings = {
        "binary": (b"\x00\xff\x1b[31mHELLO\x07", "unexpected greeting from server: ???[31mHELLO?"),
        "http": (
            b"HTTP/1.1 400 Bad Request\x1b[31m\xff" + b"z" * 300,
            "unexpected greeting from server: HTTP/1.1 400 Bad Request?[31m?",
        ),
        "other protocol": (
            b"* OK IMAP4rev1 ready", "unexpected greeting from server: * OK IMAP4rev1 ready"
        ),
        "refusal": (b"-ERR go away", "unexpected greeting from server: -ERR go away"),
    }


class Imap:
    name = "imap"
    session = IMAPSession
    greeting = b"* OK fake IMAP ready"
    ok = b"* OK "
    foreign_greeting = b"+OK POP3 ready"

    def box(self, messages, **kwargs) -> ImapMailbox:
        return ImapMailbox({"INBOX": list(messages)}, **kwargs)

    def remote(self, box) -> list[bytes]:
        return [m["data"] for m in box.folders["INBOX"]]

    def uid(self, n: int) -> str:
        return f"INBOX/7/{n}"

    def where(self, n: int) -> str:
        return f"message {n} in folder 'INBOX'"

    def _fetch(self, box, listing=None, body=None):
        def fetch(conn, tag, args, state):
            downloading = b"BODY" in args[1].upper()
            if not downloading and listing:
                return listing(conn)
            wanted = box.matching(state, args[0]) if downloading and body else []
            if any(m["uid"] == body[0] for _, m in wanted):
                # Many UIDs in one command (imap_batch.py): the ones before n
                # as usual, then n's hostile answer ending the command; the
                # client asks for the ones after n again, alone.
                n = body[0]
                for seq, m in wanted:
                    if m["uid"] == n:
                        break
                    head = b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (seq, m["uid"], len(m["data"]))
                    conn.send(head + m["data"] + b")\r\n")
                data = box.folders["INBOX"][n - 1]["data"]
                head = b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (n, n, len(data))
                return body[1](conn, head, data + b")\r\n" + tag + b" OK done\r\n")
            return box.cmd_UID_FETCH(conn, tag, args, state)

        box.overrides["UID FETCH"] = fetch

    def on_listing(self, box, send):
        self._fetch(box, listing=send)

    def on_body(self, box, n, send):
        self._fetch(box, body=(n, send))

    listing_line = b'* 1 FETCH (UID 1 RFC822.SIZE 10 X-PAD "' + b"u" * 60_000 + b'")\r\n'

    def cut_words(self, then, n) -> list[str]:
        # How many bytes arrived is checked in test_imap_hostile.py.
        cause = "connection closed by server unexpectedly" if then == "hang up" else (
            "no answer from server for 2 s")
        return [f"download of message {n} in folder 'INBOX' broke off after", cause]

    bad_greetings = {
        "binary": (b"\x00\xff\x1b[31mHELLO\x07", "unexpected greeting from server: ???[31mHELLO?"),
        "http": (
            b"HTTP/1.1 400 Bad Request\x1b[31m\xff" + b"z" * 300,
            "unexpected greeting from server: HTTP/1.1 400 Bad Request?[31m?",
        ),
        "other protocol": (b"+OK POP3 ready", "unexpected greeting from server: +OK POP3 ready"),
        "refusal": (
            b"* BYE too many connections", "server refused the connection: too many connections"
        ),
    }

    def passwords_sent(self, server) -> int:
        # AUTHENTICATE PLAIN with SASL-IR: the credentials ride on the command line.
        return sum(b"AGFsaWNlAHNlY3JldA==" in line for line in server.received)


PROTOCOLS = {"pop3": Pop3(), "imap": Imap()}


def account_on(protocol, server: FakeServer, **fields) -> RemoteAccount:
    fields.setdefault("keep_policy", RemoteAccount.Keep.DELETE)  # as the contract checks
    account = RemoteAccount(
        owner=make_mailbox(), protocol=protocol.name, security="none", host="127.0.0.1",
        port=server.port, username="alice", **fields,
    )
    account.set_password("secret")
    account.save()
    return account


def run(account) -> Run:
    return engine.run_account(account.pk, Run.Trigger.MANUAL)


def delivered(account) -> list[bytes]:
    """Local copies without the trace headers our delivery puts in front."""
    marker = f"Delivered-To: {account.owner.address}\n".encode()
    return [m.split(marker, 1)[1] for m in local_messages(account.owner)]


def reason(run_: Run) -> str:
    return " ".join([run_.error, *run_.notes])


def fail_then_heal(protocol, box, *words: str, handler=None, **fields) -> SimpleNamespace:
    """Run against the broken server, check it failed safely, heal it, run again."""
    originals = protocol.remote(box)
    with FakeServer(handler or box) as server:
        account = account_on(protocol, server, **fields)
        failed = run(account)

        assert failed.status in (Run.Status.ERROR, Run.Status.PARTIAL), failed.status
        assert all(w in reason(failed) for w in words), reason(failed)
        local, remote = delivered(account), protocol.remote(box)
        # A local file that is not a whole original would be a partial message.
        assert all(m in {lf(o) for o in originals} for m in local), "partial or foreign message"
        assert len(local) == len(set(local)), "a message was delivered twice"
        assert all(lf(o) in map(lf, remote) or lf(o) in local for o in originals), "mail lost"

        box.overrides.clear()
        box.greeting = protocol.greeting
        server.handler = box
        again = run(account)
        assert again.status == Run.Status.OK, reason(again)
        assert sorted(delivered(account)) == sorted(map(lf, originals))
        assert protocol.remote(box) == []
    return SimpleNamespace(failed=failed, local=local, remote=remote, again=again, server=server)
