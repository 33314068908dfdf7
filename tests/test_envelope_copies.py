"""Per-recipient copies: envelope headers naming other recipients cut out while streaming."""

import tempfile

import pytest

from accounts.models import Mailbox
from delivery.envelope import FIELD_LIMIT, private_copies
from delivery.recipients import DEFAULT_HEADER_FIELDS, Directory
from retrieval.models import GlobalSettings

D = "corp.example"


def mailbox(pk, local, **fields) -> Mailbox:
    return Mailbox(pk=pk, address=f"{local}@{D}", **fields)  # never saved: no database


ALICE, BOB, CAROL = mailbox(1, "alice"), mailbox(2, "bob"), mailbox(3, "carol")
POSTMASTER = mailbox(4, "postmaster", is_postmaster=True)


@pytest.fixture
def spool():
    with tempfile.TemporaryFile() as f:
        yield f


def copies(spool, raw: bytes, boxes=(ALICE, CAROL), reroute=False, fields=None):
    spool.seek(0)
    spool.truncate()
    spool.write(raw)
    gs = GlobalSettings(
        accepted_domains=[D], reroute_unknown=reroute,
        header_fields=fields or list(DEFAULT_HEADER_FIELDS),
    )
    directory = Directory([D], [ALICE, BOB, CAROL, POSTMASTER])
    made = private_copies(spool, len(raw), list(boxes), directory, gs)
    return {pk: _read_all(copy) for pk, copy in made.items()}


def _read_all(copy) -> bytes:
    copy.seek(0)
    data = copy.read()
    assert len(data) == copy.size  # Maildir's S= and SIZE= rely on it
    return data


def test_it_cuts_folded_envelope_fields_naming_others_and_keeps_its_own(spool):
    raw = (
        b"Delivered-To: alice@corp.example\n"
        b"X-Original-To: Carol\n <carol@corp.example>\n"
        b"Envelope-To: catchall@isp.example\n"
        b"Delivered-To: carol@corp.example\n"
        b"To: alice@corp.example\n\nbody\n"
    )
    got = copies(spool, raw)
    assert got[ALICE.pk] == (
        b"Delivered-To: alice@corp.example\nEnvelope-To: catchall@isp.example\n"
        b"To: alice@corp.example\n\nbody\n"
    )
    assert got[CAROL.pk] == (
        b"X-Original-To: Carol\n <carol@corp.example>\nEnvelope-To: catchall@isp.example\n"
        b"Delivered-To: carol@corp.example\nTo: alice@corp.example\n\nbody\n"
    )


def test_it_removes_only_the_for_clause_of_a_received_line(spool):
    raw = (
        b"Received: from mx.out.test by mx.isp.test with ESMTP id 7\n"
        b"\tfor <carol@corp.example>; Mon, 1 Jun 2026 10:00:00 +0000\n"
        b"Received: from a (for <alice@corp.example>) by b; Mon\n"
        b"Delivered-To: alice@corp.example\nDelivered-To: carol@corp.example\n\nhi\n"
    )
    got = copies(spool, raw)
    assert got[ALICE.pk] == (
        b"Received: from mx.out.test by mx.isp.test with ESMTP id 7; "
        b"Mon, 1 Jun 2026 10:00:00 +0000\n"
        b"Received: from a (for <alice@corp.example>) by b; Mon\n"
        b"Delivered-To: alice@corp.example\n\nhi\n"
    )
    assert got[CAROL.pk] == (
        b"Received: from mx.out.test by mx.isp.test with ESMTP id 7\n"
        b"\tfor <carol@corp.example>; Mon, 1 Jun 2026 10:00:00 +0000\n"
        b"Received: from a () by b; Mon\n"
        b"Delivered-To: carol@corp.example\n\nhi\n"
    )


def test_it_leaves_the_body_alone(spool):
    raw = b"Delivered-To: alice@corp.example\n\nDelivered-To: carol@corp.example\n"
    assert copies(spool, raw)[ALICE.pk] == raw


def test_it_treats_a_configured_custom_field_as_envelope(spool):
    raw = b"X-Rcpt-To: carol@corp.example\nDelivered-To: alice@corp.example\n\nhi\n"
    got = copies(spool, raw, fields=["X-Rcpt-To", "To"])
    assert got[ALICE.pk] == b"Delivered-To: alice@corp.example\n\nhi\n"


def test_the_postmaster_keeps_what_was_rerouted_to_it(spool):
    raw = b"Delivered-To: ghost@corp.example\nDelivered-To: alice@corp.example\n\nhi\n"
    got = copies(spool, raw, boxes=(ALICE, POSTMASTER), reroute=True)
    assert got[POSTMASTER.pk] == b"Delivered-To: ghost@corp.example\n\nhi\n"
    assert got[ALICE.pk] == b"Delivered-To: alice@corp.example\n\nhi\n"


def test_it_drops_an_oversized_envelope_field(spool):
    huge = b"X-Original-To: " + b"x" * (FIELD_LIMIT * 3) + b"\n"
    raw = huge + b"Delivered-To: alice@corp.example\n\nhi\n"
    assert copies(spool, raw)[ALICE.pk] == b"Delivered-To: alice@corp.example\n\nhi\n"


def test_it_streams_a_large_message_in_any_read_size(spool):
    head = b"Delivered-To: alice@corp.example\nDelivered-To: carol@corp.example\nSubject: big\n\n"
    body = b"".join(b"line %d .\n" % n for n in range(400_000))  # about 5 MB
    spool.write(head + body)
    directory = Directory([D], [ALICE, CAROL])
    gs = GlobalSettings(accepted_domains=[D], header_fields=list(DEFAULT_HEADER_FIELDS))
    copy = private_copies(spool, len(head + body), [ALICE], directory, gs)[ALICE.pk]
    expected = b"Delivered-To: alice@corp.example\nSubject: big\n\n" + body
    assert copy.size == len(expected)
    for size in (1, 7):  # tiny reads across the edits at the start
        copy.seek(0)
        reads = 300 // size
        assert b"".join(copy.read(size) for _ in range(reads)) == expected[: reads * size]
    for size in (4096, 256 * 1024):
        copy.seek(0)
        parts = list(iter(lambda: copy.read(size), b""))  # noqa: B023 (used at once)
        assert all(len(p) <= size for p in parts) and b"".join(parts) == expected
    with pytest.raises(OSError):
        copy.seek(5)


def test_it_sees_a_field_behind_a_bare_cr_as_the_parser_does(spool):
    # Python's email parser ends a line at a bare CR, so the resolver read carol here.
    raw = b"Subject: hi\rDelivered-To: carol@corp.example\nDelivered-To: alice@corp.example\n\nx\n"
    got = copies(spool, raw)
    assert got[ALICE.pk] == b"Subject: hi\rDelivered-To: alice@corp.example\n\nx\n"


def test_it_drops_a_received_line_whose_for_clause_it_cannot_cut(spool):
    raw = b"Received: from a by b for (Bcc) <carol@corp.example>; Mon\n\nx\n"
    assert copies(spool, raw)[ALICE.pk] == b"\nx\n"
