"""The feed parser without a pattern compiled per boundary builds the tree the stdlib's BytesParser builds."""

import email.parser
import re
from pathlib import Path

import pytest

from mailbridge.parse.feed import FeedBytesParser, _compile, _Delimiter
from mailbridge.parse.headers import RAW_POLICY
from mailbridge.parse.lenient_message import LenientMessage, VerbatimBoundaryMessage
from parse_support import tree

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "mail").rglob("*.eml"))


def multipart(boundary: str, body: str) -> bytes:
    return (f'From: a@x.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n'
            f"\r\npreamble\r\n{body}").encode("utf-8", "surrogateescape")


ODD = {
    "specials": multipart("a.b(c)+d?e*f|g^h$i[j]k{l}m\\n", "--a.b(c)+d?e*f|g^h$i[j]k{l}m\\n\r\n\r\none\r\n"
                          "--a.b(c)+d?e*f|g^h$i[j]k{l}m\\n--\r\nepilogue\r\n"),
    "blanks after the delimiter": multipart("b", "--b \t\r\n\r\none\r\n--b\t\r\n\r\ntwo\r\n--b--  \r\n"),
    "a longer line is no delimiter": multipart("b", "--b\r\n\r\none\r\n--bx\r\n--b2\r\n--b--\r\n"),
    "no closing delimiter": multipart("b", "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n"),
    "bare CR and LF endings": multipart("b", "--b\r\rone\r--b\n\ntwo\n--b--\r"),
    "nested": multipart("o", "--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\nx\r\n"
                        "--i--\r\n--o--\r\n"),
    "8-bit boundary": multipart("gr\udcc3\udcbcn", "--gr\udcc3\udcbcn\r\n\r\none\r\n--gr\udcc3\udcbcn--\r\n"),
    "spaced boundary": multipart("b  ", "--b  \r\n\r\none\r\n--b  --\r\n"),
}


@pytest.mark.parametrize("factory", [LenientMessage, VerbatimBoundaryMessage])
@pytest.mark.parametrize("raw", list(ODD.values()) + [p.read_bytes() for p in FIXTURES],
                         ids=list(ODD) + [p.name for p in FIXTURES])
def test_the_tree_is_the_stdlibs(raw: bytes, factory):
    stdlib = email.parser.BytesParser(_class=factory, policy=RAW_POLICY)
    ours = FeedBytesParser(factory, RAW_POLICY)
    assert tree(ours.parsebytes(raw)) == tree(stdlib.parsebytes(raw))
    assert tree(ours.parsebytes(raw, headersonly=True)) == tree(stdlib.parsebytes(raw, headersonly=True))


def test_only_the_boundary_pattern_is_replaced():
    separator = "--a.b(c)"
    boundary = _compile("(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
    assert isinstance(boundary, _Delimiter)
    assert boundary.match("--a.b(c)--  \r\n").group("end", "linesep") == ("--", "\r\n")
    assert boundary.match("--a.b(c)x\r\n") is None and boundary.match("--a-b(c)\r\n") is None
    # Not what re.escape writes (an unescaped "."): compiled as it is.
    assert isinstance(_compile(r"(?P<sep>--a.b)(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"), re.Pattern)
    assert isinstance(_compile(r"\r\n|\r|\n"), re.Pattern)
