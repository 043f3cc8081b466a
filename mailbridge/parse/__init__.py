"""Raw bytes in, one immutable ParsedMessage out: the whole parse path, top to bottom.

Pure: no database, network or configuration. Every decoding guess is recorded in `defects`; only
input with nothing readable in it raises `ParseError`.
"""

from __future__ import annotations

import re
import unicodedata

from mailbridge.errors import ParseError
from mailbridge.parse.auto import detect_auto
from mailbridge.parse.base64_runs import Runs
from mailbridge.parse.bounce import notice_text, parse_bounce
from mailbridge.parse.feed import FeedBytesParser
from mailbridge.parse.filenames import safe_filename
from mailbridge.parse.header_repair import repair_headers
from mailbridge.parse.headers import (RAW_POLICY, decode_all, first_address,
                                      parse_addresses, parse_date, parse_id_list, parse_message_id)
from mailbridge.parse.language import detect_language
from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.lenient_message import LenientMessage, VerbatimBoundaryMessage, declares_spaced_boundary
from mailbridge.parse.limits import (analysed, body_as_one_part, bound_headers, bound_part_headers,
                                     bound_reports, too_many_lines)
from mailbridge.parse.model import ParsedMessage
from mailbridge.parse.outlook_msg import HOW_TO_CONVERT, is_outlook_msg
from mailbridge.parse.parts import extract_body
from mailbridge.parse.quotes import reply_part
from mailbridge.parse.raw_spans import RawSpans

__all__ = ["ParseError", "ParsedMessage", "parse_message", "safe_filename"]

# compat32 keeps header values as sent (raw 8-bit bytes included) and is several times faster
# than policy.default; all decoding is done by our own modules.
_PARSER = FeedBytesParser(LenientMessage, RAW_POLICY)
_VERBATIM_BOUNDARY_PARSER = FeedBytesParser(VerbatimBoundaryMessage, RAW_POLICY)
# The automatic-mail and bounce checks read the notice's first megabyte.
MAX_NOTICE = 1_000_000


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message; raises ParseError only when nothing in `raw` can be read."""
    if not raw.strip():
        raise ParseError("empty input")
    if is_outlook_msg(raw):
        raise ParseError(HOW_TO_CONVERT)
    defects: list[str] = []
    msg, parsed = _parse_tree(bound_reports(bound_headers(raw, defects), defects), defects)
    bound_part_headers(msg, defects)
    defects += _stdlib_defects(msg)
    # Raw 8-bit header bytes and unlabelled parts are most likely in a charset the message
    # declares somewhere else, so those charsets are tried before any guess.
    hints = _DeclaredCharsets(raw)
    headers = decode_all(msg, defects, hints)
    # The first Subject as decode_all read it (what decoding msg.get("Subject") again would give).
    subject = next((value for name, value in headers if name.lower() == "subject"), "")
    # A garbage first From (a duplicate header, an empty mailbox) must not hide a valid one.
    sender = first_address(msg.get_all("From", []), [], "from", hints)
    body = extract_body(msg, defects, hints, RawSpans(parsed, msg))
    if not headers and _unreadable(body.text):
        raise ParseError("no mail headers and no readable text")
    # The notice text (without a returned copy) is decoded once for both bounce and auto checks.
    notice = notice_text(msg)
    notice = notice[:MAX_NOTICE] if notice else notice
    # The bounce check decodes the Subject without hints: what decode_all made of it, unless
    # some header's decoding fell back on the hints.
    bounce = parse_bounce(msg, notice, None if hints.consulted else subject)
    text = analysed(body.text, defects)
    reply_text = reply_part(text)
    return ParsedMessage(
        message_id=parse_message_id(msg.get("Message-ID")),
        in_reply_to=parse_id_list(msg.get("In-Reply-To")),
        references=parse_id_list(msg.get("References")),
        from_=sender,
        to=parse_addresses(msg.get("To"), [], "to", hints),
        cc=parse_addresses(msg.get("Cc"), [], "cc", hints),
        reply_to=parse_addresses(msg.get("Reply-To"), [], "reply-to", hints),
        subject=subject,
        date=parse_date(msg.get("Date"), defects),
        text=body.text,
        html=body.html,
        reply_text=reply_text,
        attachments=body.attachments,
        # An unreadable notice (None) is read as no text: the checks do without it.
        auto=detect_auto(msg, subject=subject, sender=sender, bounce=bounce, body=notice or ""),
        bounce=bounce,
        defects=tuple(dict.fromkeys(defects)),
        language=detect_language(reply_text.strip() or text),
        headers=headers,
        raw=raw,
    )


def _parse_tree(raw: bytes, defects: list[str]):
    """The stdlib's parse and the bytes it read; a MIME tree too deep for its recursion is read
    as headers plus text.

    When the stdlib ended the header block early (a pasted line above it, a field without a
    colon), the block is mended field by field and parsed again, so the headers are not lost.
    A body of millions of lines is kept as one part (see `limits`).
    """
    if too_many_lines(raw):
        return body_as_one_part(raw, _PARSER, defects), raw
    msg = _parse_bytes(raw, defects)
    if any(type(d).__name__ == "MissingHeaderBodySeparatorDefect" for d in msg.defects):
        if (repaired := repair_headers(raw)) is not None:
            defects += repaired[1]
            raw = repaired[0]
            msg = _parse_bytes(raw, defects)
    if _boundary_trouble(msg) and declares_spaced_boundary(raw):
        # A boundary declared with trailing blanks: read again with the blanks kept, and keep
        # that reading when its delimiters fit better. (The tree is looked at first: a walk of
        # a few parts costs less than the scan of all the raw bytes, and rules out most mail.)
        verbatim = _parse_bytes(raw, defects, _VERBATIM_BOUNDARY_PARSER)
        if _boundary_trouble(verbatim) < _boundary_trouble(msg):
            defects.append("mime: boundary ending in blanks kept as declared")
            msg = verbatim
    return msg, raw


def _parse_bytes(raw: bytes, defects: list[str], parser=_PARSER):
    # The stdlib reads every line in Python; base64 runs are handed to it as one line each.
    runs = Runs(raw)
    try:
        msg = parser.parsebytes(runs.raw)
    except RecursionError:
        defects.append("mime: nesting too deep to parse; the body is kept as one text part")
        msg = parser.parsebytes(runs.raw, headersonly=True)
    return runs.put_back(msg)


_BOUNDARY_DEFECTS = frozenset({"StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect",
                               "NoBoundaryInMultipartDefect"})


def _boundary_trouble(msg) -> int:
    """How many boundary defects the stdlib found in a parse."""
    return sum(type(d).__name__ in _BOUNDARY_DEFECTS for part in msg.walk() for d in part.defects)


# Charset labels anywhere in the message: Content-Type parameters and RFC 2047 words. A scan
# of the raw bytes costs a fraction of walking the parsed tree for them.
_CHARSET_LABEL = lazy_compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})|=\?([A-Za-z0-9_.:-]{1,40})[*?]""",
                             re.IGNORECASE)
_HINT_SCAN = 256 * 1024


class _DeclaredCharsets:
    """The charsets the message declares, looked for only when a decoding falls back on them."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._found: tuple[str, ...] | None = None

    @property
    def consulted(self) -> bool:
        """Whether a decoding has looked at the hints yet."""
        return self._found is not None

    def __iter__(self):
        if self._found is None:
            self._found = _declared_charsets(self._raw)
        return iter(self._found)


def _declared_charsets(raw: bytes) -> tuple[str, ...]:
    """The charsets a message declares, in order of first mention, lower case."""
    found = (m.group(1) or m.group(2) for m in _CHARSET_LABEL.finditer(raw, 0, _HINT_SCAN))
    return tuple(dict.fromkeys(label.decode("ascii").lower() for label in found))


def _stdlib_defects(msg) -> list[str]:
    """The stdlib parser's own findings, one string per defect, named by the part they are in."""
    found = []
    for number, part in enumerate(msg.walk()):
        for defect in part.defects:
            where = "message" if number == 0 else f"part {number}"
            found.append(f"mime: {type(defect).__name__} in {where}")
    return found


def _unreadable(text: str) -> bool:
    """True when text is empty or binary junk: written text has almost no control characters."""
    sample = text[:4096]
    if not sample.strip():
        return True
    controls = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")
                   and ch not in "\t\n\r\f")
    return controls > len(sample) * 0.1
