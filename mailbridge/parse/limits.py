"""Bounds on what one message may cost the parser: giant headers, millions of lines, huge parameters, slow stages.

Every input up to the listener's size limit must parse in bounded time and memory. The stdlib
parser keeps one string per line and re-reads MIME parameters at each lookup, and some of our
own stages walk every line, so hostile shapes cost far more than their size (a probe measured
10 million blank lines at 920 MB, 100k RFC 2231 continuations at 9.8 s). Each guard here cuts
such input down before it is parsed, or caps what a later stage reads, and records a defect:

- `bound_headers`: a header field longer than MAX_FIELD bytes is cut, and fields past
  MAX_HEADER_SECTION bytes are dropped;
- `too_many_lines`: the body of a message with more than MAX_LINES lines is not split into
  MIME parts (the stdlib would hold a string per line): it is kept as one text part;
- `bound_reports`: a delivery-status report of more than MAX_REPORT_BLOCKS blocks is read as
  text (the stdlib makes a message object of each block: 100k blocks took 7.4 s);
- `bound_part_headers`: MIME parameters (Content-Type, Content-Disposition) longer than
  MAX_PARAMETERS characters are cut before anything reads them;
- `analysed`: the reply-text, language and automatic-mail stages read the first MAX_ANALYSED
  characters of a longer text;
- `time_limit`: a stage that still takes longer than its deadline is interrupted (in the main
  thread, where the worker runs), so that no message holds the queue for more than seconds.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

from mailbridge.errors import ParseError
from mailbridge.parse.lazy_re import lazy_compile

# The longest one message may spend being parsed: every input up to the listener's size limit
# takes a few seconds at most with the bounds below; this stops what they did not foresee.
PARSE_SECONDS = 10.0
MAX_FIELD = 64 * 1024
MAX_HEADER_SECTION = 512 * 1024
# A 25 MiB base64 attachment has about 345,000 lines; millions of lines are never real mail.
MAX_LINES = 600_000
MAX_PARAMETERS = 8 * 1024
MAX_ANALYSED = 1_000_000
MAX_PARTS = 2_000
MAX_REPORT_BLOCKS = 2_000
_REPORT_TYPE = lazy_compile(rb"(?im)^(content-type:[ \t]*)message/(?:global-)?delivery-status")
_PARAMETER_HEADERS = ("content-type", "content-disposition")

# The stdlib's own test for a header line (email.feedparser.headerRE), on bytes.
_HEADER_LINE = lazy_compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")


class ParseTimeout(ParseError):
    """A stage took longer than its deadline."""


def header_end(raw: bytes) -> int:
    """Where the header section ends (the start of the separating blank line, or of the first body line)."""
    position = 0
    while position < len(raw):
        end = raw.find(b"\n", position)
        end = len(raw) if end < 0 else end + 1
        line = raw[position:end]
        if line in (b"\r\n", b"\n", b"\r") or not _HEADER_LINE.match(line):
            return position
        position = end
    return position


def bound_headers(raw: bytes, defects: list[str]) -> bytes:
    """`raw` with over-long header fields cut and the header section capped (unchanged when within bounds)."""
    if len(raw) <= MAX_FIELD:
        return raw
    end = header_end(raw)
    if end <= MAX_FIELD or (end <= MAX_HEADER_SECTION and _longest_field(raw, end) <= MAX_FIELD):
        return raw
    kept, total, cut = [], 0, 0
    for field in _fields(raw, end):
        if len(field) > MAX_FIELD:
            field = _cut_field(field)
            cut += 1
        if total + len(field) > MAX_HEADER_SECTION:
            defects.append(f"headers: the header section is over {MAX_HEADER_SECTION} bytes; the rest is dropped")
            break
        kept.append(field)
        total += len(field)
    if cut:
        defects.append(f"headers: {cut} header field(s) longer than {MAX_FIELD} bytes cut")
    return b"".join(kept) + raw[end:]


def _fields(raw: bytes, end: int) -> Iterator[bytes]:
    """The header fields of raw[:end], each with its continuation lines."""
    start = 0
    for match in re.finditer(rb"\n(?![ \t])", raw[:end]):
        yield raw[start:match.end()]
        start = match.end()
    if start < end:
        yield raw[start:end]


def _longest_field(raw: bytes, end: int) -> int:
    return max((len(field) for field in _fields(raw, end)), default=0)


def _cut_field(field: bytes) -> bytes:
    # At a line end when the field is folded, so that what is left is still a well-formed field.
    head = field[:MAX_FIELD]
    fold = head.rfind(b"\n")
    head = head[:fold] if fold > 0 else head.rstrip(b"\r")
    return head.rstrip(b"\r") + b"\r\n"


def bound_reports(raw: bytes, defects: list[str]) -> bytes:
    """`raw` with its delivery-status parts read as text/plain when they hold too many blocks."""
    # The case-blind, line-anchored pattern has no literal to skip ahead by and crawls through
    # every byte (about 0.4 ms a message); a plain search of the lowered copy rules out almost
    # every message at a twentieth of that.
    if b"delivery-status" not in raw.lower() or not _REPORT_TYPE.search(raw):
        return raw
    blocks = raw.count(b"\n\r\n") + raw.count(b"\n\n")
    if blocks <= MAX_REPORT_BLOCKS:
        return raw
    defects.append(f"dsn: a delivery-status report of more than {MAX_REPORT_BLOCKS} blocks is read as text")
    return _REPORT_TYPE.sub(rb"\1text/plain", raw)


def too_many_lines(raw: bytes) -> bool:
    """Whether the body has more lines than the stdlib parser may split it into."""
    if len(raw) <= MAX_LINES:
        return False  # Each line takes a byte at least: no need to find the body and count.
    return raw.count(b"\n", header_end(raw)) > MAX_LINES


def body_as_one_part(raw: bytes, parser, defects: list[str]) -> Message:
    """Headers parsed as usual, the body kept whole as the payload: no string per line."""
    end = header_end(raw)
    msg = parser.parsebytes(raw[:end] + b"\r\n")
    body = raw[end:]
    # The blank line that separates headers and body is not part of the body.
    for separator in (b"\r\n", b"\n", b"\r"):
        if body.startswith(separator):
            body = body[len(separator):]
            break
    msg.set_payload(body.decode("ascii", "surrogateescape"))
    defects.append(f"mime: more than {MAX_LINES} lines; the body is kept as one part, not split into MIME parts")
    return msg


def bound_part_headers(msg: Message, defects: list[str]) -> None:
    """Cut MIME parameter headers longer than MAX_PARAMETERS, in every part, before anything reads them."""
    for number, part in enumerate(msg.walk()):
        if number >= MAX_PARTS:
            break
        for index, (name, value) in enumerate(part._headers):
            if name.lower() in _PARAMETER_HEADERS and isinstance(value, str) and len(value) > MAX_PARAMETERS:
                part._headers[index] = (name, _cut_parameters(value))
                defects.append(f"{name.lower()}: parameters longer than {MAX_PARAMETERS} characters cut")


def _cut_parameters(value: str) -> str:
    head = value[:MAX_PARAMETERS]
    semicolon = head.rfind(";")
    return head[:semicolon] if semicolon > 0 else head


def analysed(text: str, defects: list[str]) -> str:
    """The part of a body text the analysing stages read: all of it, or its first MAX_ANALYSED characters."""
    if len(text) <= MAX_ANALYSED:
        return text
    defects.append(f"text: longer than {MAX_ANALYSED} characters; reply text, language and automatic-mail "
                   "checks read its beginning")
    return text[:MAX_ANALYSED]


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ParseTimeout in the block after `seconds` (main thread only; elsewhere no limit)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise ParseTimeout(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
