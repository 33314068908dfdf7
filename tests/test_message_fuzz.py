"""Property-based tests of the header parser (delivery.message.inspect).

Arbitrary bytes as a message never crash it, what it yields can always be
stored (no NUL, no surrogates, no control characters, within the column),
and the content digest ignores trace headers and line-end style.
"""

import io
import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery import message as message_module
from delivery.message import MESSAGE_ID_LENGTH, inspect
from popadmin.text import storable

HEX64 = re.compile(r"[0-9a-f]{64}")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

header_bytes = st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" "))
# Without bare CRs, which the parser reads as line ends: copies of one message
# (the invariance tests) have consistent line ends.
clean_header_bytes = header_bytes.map(lambda b: b.replace(b"\r", b" "))
header_names = st.sampled_from([b"From", b"To", b"Cc", b"Subject", b"Date", b"Message-ID",
                                b"References", b"X-Junk", b"message-id", b"Sender"])
header_lines = st.lists(st.tuples(header_names, header_bytes), max_size=12)
clean_header_lines = st.lists(st.tuples(header_names, clean_header_bytes), max_size=12)
bodies = st.binary(max_size=2000)


def build(lines, body: bytes, eol: bytes = b"\n") -> bytes:
    head = b"".join(name + b": " + value + eol for name, value in lines)
    return head + eol + body


def is_storable(text: str) -> bool:
    """Valid UTF-8 without control characters (so no NUL, no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


def check_info(info, data: bytes):
    assert is_storable(info.message_id) and len(info.message_id) <= MESSAGE_ID_LENGTH
    assert info.key[:4] in ("mid:", "sha:") and HEX64.fullmatch(info.key[4:])
    assert HEX64.fullmatch(info.digest)
    assert info.size == len(data)


@FUZZ
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_crash_and_yield_storable_values(data):
    check_info(inspect(io.BytesIO(data)), data)


@FUZZ
@given(header_lines, bodies, st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_arbitrary_header_values_yield_storable_values(lines, body, eol):
    data = build(lines, body, eol)
    check_info(inspect(io.BytesIO(data)), data)


@FUZZ
@given(header_bytes)
def test_any_message_id_is_stored_cleaned(value):
    data = build([(b"From", b"a@b.test"), (b"Message-ID", value)], b"hi\n")
    info = inspect(io.BytesIO(data))
    check_info(info, data)
    if re.fullmatch(rb"[!-~]+", value):
        assert info.key.startswith("mid:")


@FUZZ
@given(header_lines, bodies, st.lists(st.tuples(
    st.sampled_from([b"Received", b"Delivered-To", b"X-Original-To", b"Return-Path",
                     b"X-Spam-Score"]), clean_header_bytes), min_size=1, max_size=5))
def test_trace_headers_change_neither_key_nor_digest(lines, body, trace):
    plain = inspect(io.BytesIO(build(lines, body)))
    traced = inspect(io.BytesIO(build(trace + lines, body)))
    assert (traced.key, traced.digest) == (plain.key, plain.digest)


@FUZZ
@given(clean_header_lines, st.lists(st.binary(max_size=80).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=30))
def test_crlf_and_lf_copies_have_one_digest(lines, body_lines):
    lf = build(lines, b"\n".join(body_lines))
    crlf = build(lines, b"\r\n".join(body_lines), b"\r\n")
    assert inspect(io.BytesIO(crlf)).digest == inspect(io.BytesIO(lf)).digest


@FUZZ
@given(bodies, st.integers(min_value=1, max_value=9))
def test_the_digest_does_not_depend_on_how_the_body_is_read(body, chunk):
    data = build([(b"Subject", b"x")], body)
    whole = inspect(io.BytesIO(data)).digest
    default, message_module.CHUNK = message_module.CHUNK, chunk
    try:
        assert inspect(io.BytesIO(data)).digest == whole
    finally:
        message_module.CHUNK = default


@FUZZ
@given(st.one_of(st.text(), st.binary()), st.none() | st.integers(min_value=0, max_value=50))
def test_storable_text_is_valid_printable_and_bounded(value, limit):
    text = storable(value, limit)
    assert is_storable(text)
    assert limit is None or len(text) <= limit


def test_surrogates_of_every_kind_are_replaced():
    assert storable("a\udcffb\ud800c\x00d") == "a\ufffdb\ufffdc\ufffdd"
    # 8-bit bytes read through surrogateescape that form UTF-8 come back as text.
    assert storable("caf\udcc3\udca9") == "café"
