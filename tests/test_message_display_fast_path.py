"""The sender and subject kept for searching (delivery/message.py _display)
skip the encoded-word decoder when there is no encoded word: the text must
come out exactly as the decoder would have left it."""

from email.errors import HeaderParseError
from email.header import decode_header, make_header

from hypothesis import given
from hypothesis import strategies as st

from delivery.message import DISPLAY_LENGTH, _display
from popadmin.text import storable


def decoded_the_long_way(raw: str) -> str:
    raw = " ".join(raw.split())
    try:
        text = str(make_header(decode_header(raw)))
    except (ValueError, LookupError, UnicodeError, AssertionError, HeaderParseError):
        text = raw
    return storable(text, DISPLAY_LENGTH)


# Surrogates stand for undecodable 8-bit bytes (compat32 reads headers with surrogateescape).
text = st.text(st.characters(codec=None, exclude_categories=("Cs",)) | st.sampled_from(
    ["\udcff", "\udce9", " ", "\t", "?", "=", "<", "@"]), max_size=80)


@given(text.filter(lambda t: "=?" not in " ".join(t.split())))
def test_plain_text_comes_out_as_the_decoder_would_leave_it(raw):
    assert _display({"subject": [raw]}, "subject") == decoded_the_long_way(raw)


def test_an_encoded_word_is_still_decoded():
    raw = "=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Bern"
    assert _display({"subject": [raw]}, "subject") == "Grüße aus Bern"
