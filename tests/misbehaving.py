"""POP3 and IMAP servers that misbehave on chosen messages, the way real ones do.

Built on the honest fake servers (tests/fakeserver.py): every message
behaves, except those named in `faults` ({POP3 UIDL or IMAP UID: fault}),
so a fault follows its message however the mailbox is renumbered between
sessions. The faults:

- SHORT: the message arrives cut short but properly framed: RETR ends with
  "." after its first octets; the IMAP literal is shorter than RFC822.SIZE.
- PARTIAL (IMAP): `BODY[]<0> {n}`, a partial answer nobody asked for.
- WRONG_SIZE: the listing (LIST, RFC822.SIZE) says 500,000 octets; the
  message itself is sent whole.
- REFUSE: POP3 "-ERR" to RETR; IMAP "NO [UNAVAILABLE]" for the command that
  asks for it (Exchange and Microsoft 365 answer so for a message they cannot
  convert), after sending the other messages of the command.
- DROP: the connection is dropped half way through the message.

`asked` counts how often each faulty message was asked for. With
`whole_command=True` the IMAP server refuses a command that asks for a
REFUSE message as a whole, sending none of its messages (so the client must
find out which one it was).
"""

from __future__ import annotations

import uuid
from collections import Counter

from tests.fakeserver import ImapMailbox, Pop3Mailbox, stuff

SHORT = "short"
PARTIAL = "partial"
WRONG_SIZE = "wrong size"
REFUSE = "refuse"
DROP = "drop"

POP3_FAULTS = (SHORT, WRONG_SIZE, REFUSE, DROP)
IMAP_FAULTS = (SHORT, PARTIAL, WRONG_SIZE, REFUSE, DROP)
LISTED = 500_000  # what WRONG_SIZE lists
KEPT = 84  # octets of a SHORT or PARTIAL message that are sent
UNAVAILABLE = (b"NO [UNAVAILABLE] The requested message could not be converted to an "
               b"RFC-822 compatible format.")


class MisbehavingPop3(Pop3Mailbox):
    def __init__(self, messages: list[bytes], faults: dict[str, str], **kwargs):
        kwargs.setdefault("uidls", [f"uid-{i}" for i in range(1, len(messages) + 1)])
        super().__init__(messages, **kwargs)
        self.faults = dict(faults)
        self.asked: Counter = Counter()

    def add(self, message: bytes) -> str:
        """New mail arrives; its UIDL."""
        uid = f"new-{uuid.uuid4().hex[:8]}"
        self.messages.append(message)
        self.uidls.append(uid)
        return uid

    def fault(self, number: int) -> tuple[str | None, str]:
        uid = self.uidls[number - 1]
        return self.faults.get(uid), uid

    def cmd_LIST(self, conn, arg, state):
        lines = []
        for n in self.live(state):
            fault, _ = self.fault(n)
            size = LISTED if fault == WRONG_SIZE else len(self.messages[n - 1])
            lines.append(b"%d %d\r\n" % (n, size))
        conn.send(b"+OK\r\n" + b"".join(lines) + b".\r\n")

    def cmd_RETR(self, conn, arg, state):
        number = int(arg)
        fault, uid = self.fault(number)
        data = self.messages[number - 1]
        if fault:
            self.asked[uid] += 1
        if fault == SHORT:
            return conn.send(b"+OK\r\n" + stuff(data[:KEPT]))
        if fault == REFUSE:
            return conn.sendline(b"-ERR [SYS/PERM] message cannot be retrieved")
        if fault == DROP:
            conn.send(b"+OK\r\n" + stuff(data)[: len(data) // 2])
            return "hangup"
        return super().cmd_RETR(conn, arg, state)

    def dispatch(self, conn, verb, arg, state):
        answer = super().dispatch(conn, verb, arg, state)
        return "quit" if answer == "hangup" else answer


class MisbehavingImap(ImapMailbox):
    def __init__(self, messages: list[bytes], faults: dict[int, str], whole_command=False,
                 **kwargs):
        super().__init__({"INBOX": list(messages)}, **kwargs)
        self.faults = dict(faults)
        self.whole_command = whole_command
        self.asked: Counter = Counter()

    def add(self, message: bytes) -> int:
        """New mail arrives; its UID."""
        inbox = self.folders["INBOX"]
        uid = max((m["uid"] for m in inbox), default=0) + 1
        inbox.append({"uid": uid, "data": message, "flags": set()})
        return uid

    def cmd_UID_FETCH(self, conn, tag, args, state):
        body = b"BODY" in args[1].upper()
        refused = False
        wanted = self.matching(state, args[0])
        if body and self.whole_command and any(
                self.faults.get(m["uid"]) == REFUSE for _, m in wanted):
            for _, m in wanted:
                self.asked[m["uid"]] += bool(self.faults.get(m["uid"]))
            return conn.sendline(tag + b" " + UNAVAILABLE)
        for seq, m in wanted:
            fault = self.faults.get(m["uid"]) if state["selected"] == "INBOX" else None
            data = m["data"]
            if not body:
                size = LISTED if fault == WRONG_SIZE else len(data)
                conn.sendline(b"* %d FETCH (UID %d RFC822.SIZE %d)" % (seq, m["uid"], size))
                continue
            if fault:
                self.asked[m["uid"]] += 1
            if fault == REFUSE:
                refused = True
                continue
            key, sent = b"BODY[]", data
            if fault in (SHORT, PARTIAL):
                key, sent = (b"BODY[]" if fault == SHORT else b"BODY[]<0>"), data[:KEPT]
            head = b"* %d FETCH (UID %d %s {%d}\r\n" % (seq, m["uid"], key, len(sent))
            if fault == DROP:
                conn.send(head + sent[: len(sent) // 2])
                return "hangup"
            conn.send(head + sent + b")\r\n")
        if refused:
            return conn.sendline(tag + b" " + UNAVAILABLE)
        self.ok(conn, tag)


def big_messages(n: int, tag: str, octets: int = 20_000) -> list[bytes]:
    """Messages long enough that a cut leaves far less than the POP3 size rule
    tolerates (retrieval/protocols/sizes.py), with CRLF endings as on the wire."""
    filler = b"".join(b"line %05d of the body, long enough to matter\r\n" % i
                      for i in range(octets // 45))
    return [f"From: a@example.test\r\nMessage-ID: <{i}.{tag}@misbehaving.test>\r\n"
            f"Subject: message {i}\r\n\r\n".encode() + filler for i in range(1, n + 1)]
