"""Whether a message arrived whole: what was received against the size the server listed.

The framing alone cannot tell: a server that announces a short IMAP literal,
or ends a POP3 RETR early with a proper ".", sends a well-formed answer. So
the size the listing gave (RFC822.SIZE, LIST) is the other witness, and a
message that falls short of it is a failed fetch: left on the server,
never delivered as if complete (docs/architecture/no-loss/sizes.md).

IMAP: RFC822.SIZE is the exact number of octets BODY[] returns (RFC 3501
§6.4.5 and §7.4.2), so the literal must be exactly that long, and it must be
the whole body (`BODY[]`, not a partial `BODY[]<origin>` never asked for).

POP3: LIST sizes are allowed to differ from what RETR sends (RFC 1939 §11:
"local conventions for designating end-of-line"). Dovecot counts the
message with CRLF line endings, as sent; servers that store mail with LF
endings may count one octet per line, which is fewer than are sent; Exchange
lists estimates unless EnableExactRFC822Size is set. What was received is
therefore measured in wire form (each line ending counted as CRLF, dot-
stuffing removed), which is never below an honest count of either kind, and
only a shortfall beyond both POP3_SLACK_OCTETS and a POP3_SLACK_SHARE-th of
the listed size counts as cut short.
"""

# POP3: a shortfall up to this many octets, or up to this fraction
# (1/POP3_SLACK_SHARE) of the listed size if that is more, is tolerated.
POP3_SLACK_OCTETS = 4096
POP3_SLACK_SHARE = 10


def pop3_cut_short(listed: int, received: int) -> bool:
    """`received`: octets of the RETR answer in wire form (CRLF line endings, unstuffed)."""
    return listed - received > max(POP3_SLACK_OCTETS, listed // POP3_SLACK_SHARE)


def imap_mismatch(listed: int, literal: int) -> bool:
    return literal != listed


class WireCounter:
    """Passes a POP3 body (written with LF endings) on to `out`, counting its
    octets as they were on the wire: one more per line ending (its CR)."""

    def __init__(self, out):
        self.out = out
        self.octets = 0

    def write(self, data) -> int:
        self.octets += len(data) + data.count(b"\n")
        return self.out.write(data)
