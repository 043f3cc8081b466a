"""Whatever the bytes, parse_message returns a message or raises ParseError, and the new repair,
address and charset paths hold their promises on arbitrary input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.errors import ParseError
from mailbridge.parse import parse_message
from mailbridge.parse.address_entries import angle_entries
from mailbridge.parse.charset import decode_text

FIELDS = [b"From: Jan <jan@example.pl>", b"To: pomoc@example.com", b"Subject: Faktura",
          b"Message-ID: <a@b>", b"Received: from x by y", b"X-Odd without colon", b"Fro :garbled",
          b"---- Original email message ----", b"plain words", b"\tfolded", b"From jan@x Mon Mar 3",
          b"Content-Type: text/plain; charset=windows-1250", "Zażółć gęślą jaźń".encode("cp1250"),
          b"Cc: \"Name \" <>, \"LTD\" <x@y.com>"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FIELDS), max_size=12), st.binary(max_size=200))
def test_any_header_soup_parses_or_raises_parse_error(lines, body):
    raw = b"\n".join(lines) + b"\n\n" + body
    try:
        message = parse_message(raw)
    except ParseError:
        return
    assert isinstance(message.subject, str) and isinstance(message.text, str)
    assert message.raw == raw


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab <>"(),:;@.\\|[]', max_size=60))
def test_angle_entries_give_addresses_from_the_text_or_nothing(text):
    pairs = angle_entries(text)
    assert pairs is None or all(address in text for _, address in pairs)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([None, "us-ascii", "iso-8859-1", "utf-8", "gb2312",
                                                 "iso-2022-jp", "x-unknown", "utf-7"]))
def test_decode_text_never_raises_and_says_when_it_guessed(data, label):
    text, defect = decode_text(data, label, hints=("windows-1250", "koi8-r"))
    assert isinstance(text, str)
    if label is None and not data.isascii():
        assert defect is not None
