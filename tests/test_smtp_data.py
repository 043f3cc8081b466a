"""DATA read in blocks: the same bytes, ends and refusals as aiosmtpd's line reader, however the blocks fall."""

from __future__ import annotations

import random

import pytest

from mailbridge.sources.smtp_data import LINE_TOO_LONG, TOO_MUCH, DataReader

POLISH = "Subject: Zażółć\r\n\r\nDzień dobry\r\n".encode()


def read(wire: bytes, *, size_limit: int | None = 10_000, line_limit: int = 1001, block: int = 0) -> DataReader:
    """Feed `wire` (what follows the 354) whole, or in blocks of `block` bytes, until the end mark.

    Blocks after the one holding the end mark stay in the stream: they are added to `rest`.
    """
    data = DataReader(size_limit, line_limit)
    step = block or len(wire)
    for start in range(0, len(wire), step):
        data.feed(wire[start:start + step])
        if data.done:
            data.rest += wire[start + step:]
            return data
    raise AssertionError("no end mark found")


@pytest.mark.parametrize("block", [0, 1, 2, 3, 5, 7, 64])
@pytest.mark.parametrize(("wire", "content", "rest"), [
    (POLISH + b".\r\n", POLISH, b""),
    (b".\r\n", b"", b""),
    (b"..\r\n.\r\n", b".\r\n", b""),
    (b"a\r\n..b\r\n...\r\n.\r\nQUIT\r\n", b"a\r\n.b\r\n..\r\n", b"QUIT\r\n"),
    (b"bare\nlf. and\r.\r\n\r\n.\r\nMAIL FROM:<x@y>\r\nRCPT", b"bare\nlf. and\r.\r\n\r\n", b"MAIL FROM:<x@y>\r\nRCPT"),
    (b"x\r\n.\r\n.\r\n", b"x\r\n", b".\r\n"),
    (b"\x00\xff raw 8-bit \xc5\xbc\r\n.\r\n", b"\x00\xff raw 8-bit \xc5\xbc\r\n", b""),
])
def test_content_and_what_follows_the_end_mark(wire, content, rest, block):
    data = read(wire, block=block)
    assert (data.content, data.rest, data.refusal) == (content, rest, None)


@pytest.mark.parametrize("block", [0, 1, 13, 500])
@pytest.mark.parametrize(("wire", "refusal"), [
    (b"a" * 999 + b"\r\n.\r\n", None),  # 1001 bytes with its CRLF: the limit itself
    (b"a" * 1000 + b"\r\n.\r\n", LINE_TOO_LONG),
    (b"ok\r\n" + b"b" * 5000 + b"\r\nok\r\n.\r\n", LINE_TOO_LONG),
    (b"ok\r\n" + b"c" * 5000 + b".\r\n", LINE_TOO_LONG),  # the long line runs into the dot: no end there
    ((b"y" * 98 + b"\r\n") * 101 + b".\r\n", TOO_MUCH),  # 10,100 bytes against 10,000
    ((b"y" * 98 + b"\r\n") * 100 + b".\r\n", None),  # exactly 10,000
])
def test_refusals_come_after_the_end_mark_and_keep_nothing(wire, refusal, block):
    if wire.endswith(b"c" * 5000 + b".\r\n"):
        wire += b"\r\n.\r\n"
    data = read(wire + b"NOOP\r\n", block=block)
    assert data.refusal == refusal and data.rest == b"NOOP\r\n"
    assert (data.content is None) == (refusal is not None)


def test_refused_data_is_dropped_as_it_comes():
    data = DataReader(1000, 1001)
    for _ in range(1000):
        data.feed(b"z" * 98 + b"\r\n")
    assert data.refusal == TOO_MUCH and len(data._data) < 10
    data.feed(b".\r\n")
    assert data.done and data.refusal == TOO_MUCH


def test_without_a_size_limit_anything_goes():
    data = read(b"q" * 50 + b"\r\n" + b".\r\n", size_limit=None)
    assert data.content == b"q" * 50 + b"\r\n"


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 64, 4096])
def test_a_sink_gets_exactly_the_content_however_the_blocks_fall(block):
    lines = [b"..lead", b"mid.dle", b".", b"", b"..", b"x" * 900, b"\xc5\xbc.", b"...three"] * 40
    wire = b"".join(line + b"\r\n" for line in lines) + b".\r\nQUIT\r\n"
    expected = read(wire).content
    got = bytearray()
    data = DataReader(None, 1001, got.extend)
    step = block
    for start in range(0, len(wire), step):
        data.feed(wire[start:start + step])
        if data.done:
            break
    assert bytes(got) == expected and data.content is None and data.size == len(expected)


def test_with_a_sink_a_connection_holds_one_block_not_the_message():
    # The probe: 20 connections x 24 MB of unfinished DATA took the listener to 490 MB.
    data = DataReader(None, 1001, lambda chunk: None)
    line = b".stuffed line of mail text, " * 3 + b"\r\n"
    block = line * (65536 // len(line))
    held = 0
    for _ in range((24 << 20) // len(block)):
        data.feed(block)
        held = max(held, len(data._data))
    data.feed(b".\r\n")
    assert data.done and data.size > 23 << 20
    assert held < 2 * len(block)


@pytest.mark.parametrize("limit", [3, 4, 5, 8, 64, 1001])
def test_a_line_over_the_limit_is_refused_wherever_it_lies_and_only_then(limit):
    # Lines near the limit, with bare CRs and LFs in them, against the rule itself: a line with
    # its CRLF longer than the limit is refused (the quick window check must never let one by).
    rng = random.Random(limit)
    for _ in range(1500):
        lengths = [rng.choice([0, 1, limit - 3, limit - 2, limit - 1, rng.randint(0, 2 * limit)])
                   for _ in range(rng.randint(1, 25))]
        content = b"\r\n".join(bytes(rng.choice(b"ab\r\n") for _ in range(max(n, 0))) for n in lengths)
        wire = content + b"\r\n.\r\n"
        data = DataReader(None, limit)
        position = 0
        while not data.done:
            step = rng.randint(1, 3 * limit)
            data.feed(wire[position:position + step])
            position += step
        too_long = max(len(line) for line in content.split(b"\r\n")) + 2 > limit
        assert (data.refusal == LINE_TOO_LONG) == too_long, (limit, content)
