"""Base64 runs handed to the stdlib parser as one line each: the tree is the one the stdlib makes of the original."""

import base64

import pytest

from bench import hostile
from mailbridge.parse import _PARSER, parse_message
from mailbridge.parse.base64_runs import Runs
from mailbridge.parse.limits import PARSE_SECONDS
from parse_support import tree

# 40 lines of base64 of distinct bytes, each line ending in CRLF as a mail client writes them.
B64 = base64.encodebytes(bytes(range(256)) * 12).replace(b"\n", b"\r\n")


def assert_same_tree(raw: bytes) -> Runs:
    runs = Runs(raw)
    assert tree(runs.put_back(_PARSER.parsebytes(runs.raw))) == tree(_PARSER.parsebytes(raw))
    return runs


def multipart(body: bytes, epilogue: bytes = b"") -> bytes:
    return (b"From: a@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + body + b"--b--\r\n" + epilogue)


# Where the 21st line of B64 starts (76 letters and CRLF a line).
LINE20 = 78 * 20
ATTACHED = b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"


@pytest.mark.parametrize("raw", [
    pytest.param(multipart(b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" + ATTACHED + B64), id="attachment"),
    pytest.param(multipart(ATTACHED + B64.replace(b"\r\n", b"\n")), id="bare LF"),
    pytest.param(multipart(ATTACHED + B64.replace(b"\r\n", b"\r")), id="bare CR"),
    pytest.param(multipart(ATTACHED + B64[:-2]), id="run ends at the delimiter without a line break"),
    pytest.param(multipart(ATTACHED + B64[:900] + b"--b\r\n" + B64[900:]), id="delimiter inside the run"),
    pytest.param(multipart(ATTACHED + B64[:LINE20] + b"\r\n" + B64[LINE20:]), id="blank line inside the run"),
    pytest.param(multipart(ATTACHED + B64[:2000] + b"\r" + B64[2000:]), id="bare CR inside the run"),
    pytest.param(multipart(ATTACHED + B64[:2000] + b"\n" + B64[2000:]), id="bare LF inside the run"),
    pytest.param(multipart(ATTACHED + B64[:2000] + b"?" + B64[2000:]), id="a stray character inside the run"),
    pytest.param(multipart(ATTACHED + B64[:LINE20 - 2] + B64[LINE20:]), id="two lines run together"),
    pytest.param(multipart(ATTACHED + B64[:LINE20] + b"x" + B64[LINE20:]), id="one line longer"),
    pytest.param(multipart(ATTACHED + B64[:900] + b"--b--\r\n" + B64[900:]), id="closing delimiter inside"),
    pytest.param(b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + B64 + b"--b\r\n\r\nx\r\n--b--\r\n",
                 id="run in the preamble"),
    pytest.param(multipart(ATTACHED + b"QUJD\r\n", epilogue=b"\r\n" + B64), id="run in the epilogue"),
    pytest.param(multipart(ATTACHED + b"Content-Type: text/plain\r\n\r\n" + B64), id="after a missing separator"),
    pytest.param(b"Subject: no mime\r\n\r\n" + B64, id="single part"),
    pytest.param(b"Content-Type: message/rfc822\r\n\r\n" + B64, id="nested message of base64 lines"),
    pytest.param(b"Content-Type: message/delivery-status\r\n\r\nAction: failed\r\n\r\n" + B64,
                 id="delivery status blocks"),
    pytest.param(b"Subject: t\r\n\r\nquoted \x00base64 run 0\x00\n\r\n\r\n" + B64, id="marker text in the mail"),
])
def test_the_tree_is_the_stdlibs(raw):
    assert_same_tree(raw)


@pytest.mark.parametrize("line_break", [b"\r\n", b"\n"])
def test_a_long_attachment_is_read_as_a_few_lines(line_break):
    raw = multipart(ATTACHED + B64).replace(b"\r\n", line_break)
    runs = assert_same_tree(raw)
    # The placeholder, the last whole line (kept for the line break a delimiter takes) and
    # the shorter last line of the base64 text.
    assert runs.raw.count(b"\n") == raw.count(b"\n") - B64.count(b"\n") + 3


def test_mail_that_holds_the_marker_is_parsed_as_it_is():
    raw = b"Subject: t\r\n\r\nquoted \x00base64 run 0\x00\n\r\n\r\n" + B64
    assert Runs(raw).raw == raw


def test_the_attachment_keeps_its_bytes():
    attachment = parse_message(multipart(ATTACHED + B64)).attachments[0]
    assert attachment.payload == bytes(range(256)) * 12


def test_a_body_declaring_base64_on_every_third_line_parses_within_the_deadline():
    # The search for runs moves forward only: a search per mention over the rest of the
    # message would take minutes here (190,000 mentions in 3 MB).
    result = hostile.measure("base64_mentions", deadline=PARSE_SECONDS)
    assert "error" not in result, result
