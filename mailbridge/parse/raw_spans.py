"""Where a MIME part's body lies in the raw bytes, so that a nested message is kept as sent.

The stdlib parses a message/rfc822 part into a Message, and writing that back is not the bytes
the sender wrote: an empty part gains a blank line, a header-only message gains its missing
separator, line endings change. An attachment's bytes must be those that were sent (their size
and sha256 are what a user compares), so the body of such a part is cut from the raw message.

The spans are found by splitting the raw bytes the way the stdlib's feed parser does (its header
line pattern, its delimiter lines), checked against the tree it built: where the number of
children differs, that subtree has no spans and its parts are serialised as before. Each level
scans only its own part, and levels deeper than MAX_DEPTH are not mapped, so the cost is at most
MAX_DEPTH passes over the message; nothing is computed unless a nested message is asked for.
"""

from __future__ import annotations

from email.message import Message

from mailbridge.parse.lazy_re import lazy_compile

MAX_DEPTH = 12
# The stdlib feed parser's test for a header line (email.feedparser.headerRE), on bytes.
_HEADER_LINE = lazy_compile(rb"From |[\041-\071\073-\176]*:|[\t ]")
# Transfer encodings under which a nested message is the raw text the stdlib parsed.
_IDENTITY = frozenset({"", "7bit", "8bit", "binary"})


class RawSpans:
    """The raw body of each part of one parsed message, mapped on first use."""

    def __init__(self, raw: bytes, msg: Message) -> None:
        self._raw = raw
        self._msg = msg
        self._spans: dict[int, tuple[int, int]] | None = None

    def body_of(self, part: Message) -> bytes | None:
        """The part's body as sent (before transfer decoding), or None when it is not mapped."""
        if self._spans is None:
            self._spans = {}
            self._map(self._msg, 0, len(self._raw), 0)
        span = self._spans.get(id(part))
        return None if span is None else self._raw[span[0]:span[1]]

    def _map(self, part: Message, start: int, end: int, depth: int) -> None:
        body = _body_start(self._raw, start, end)
        self._spans[id(part)] = (body, end)
        payload = part.get_payload()
        if depth >= MAX_DEPTH or not isinstance(payload, list):
            return
        if part.get_content_maintype() == "multipart":
            children = _split(self._raw, body, end, part.get_boundary())
        elif str(part.get("Content-Transfer-Encoding", "")).strip().lower() in _IDENTITY:
            children = [(body, end)]  # message/rfc822 and the like: one message, the whole body.
        else:
            return
        if len(children) != len(payload):
            return  # Not the tree the stdlib built: leave this subtree unmapped.
        for child, (child_start, child_end) in zip(payload, children):
            if isinstance(child, Message):
                self._map(child, child_start, child_end, depth + 1)


def _body_start(raw: bytes, start: int, end: int) -> int:
    """Where the body begins: after the blank line ending the header block, or at the first
    line that is not a header (the stdlib's MissingHeaderBodySeparatorDefect)."""
    pos = start
    while pos < end:
        newline = raw.find(b"\n", pos, end)
        line_end = end if newline == -1 else newline + 1
        line = raw[pos:line_end]
        if line in (b"\n", b"\r\n", b"\r"):
            return line_end
        if not _HEADER_LINE.match(line):
            return pos
        pos = line_end
    return end


def _split(raw: bytes, start: int, end: int, boundary: str | None) -> list[tuple[int, int]]:
    """The children of a multipart body between its delimiter lines (preamble and epilogue left
    out); the line break before a delimiter belongs to the delimiter (RFC 2046)."""
    if not boundary:
        return []
    try:
        marker = b"--" + boundary.encode("ascii")
    except UnicodeEncodeError:
        return []
    children: list[tuple[int, int]] = []
    child_start = None
    for line_start, line_end, closing in _delimiters(raw, start, end, marker):
        if child_start is not None:
            children.append((child_start, _before_line_break(raw, line_start, child_start)))
        if closing:
            return children
        child_start = line_end
    if child_start is not None:
        children.append((child_start, end))  # No closing delimiter: the last part runs to the end.
    return children


def _delimiters(raw: bytes, start: int, end: int, marker: bytes):
    """(line start, next line start, closing?) of each delimiter line: the marker at a line's
    start, then "--" or not, then only blanks (the stdlib's test). Found with bytes.find, so
    a part costs one pass and no pattern is compiled per boundary."""
    pos = start
    while (hit := raw.find(marker, pos, end)) != -1:
        pos = hit + len(marker)
        if hit != start and raw[hit - 1:hit] not in (b"\n", b"\r"):
            continue
        newline = raw.find(b"\n", pos, end)
        line_end = end if newline == -1 else newline + 1
        rest = raw[pos:line_end].rstrip(b"\r\n")
        closing = rest.startswith(b"--")
        if rest[2 if closing else 0:].strip(b" \t"):
            continue  # More text after the marker: not a delimiter line.
        yield hit, line_end, closing
        pos = line_end


def _before_line_break(raw: bytes, pos: int, floor: int) -> int:
    if pos - 2 >= floor and raw[pos - 2:pos] == b"\r\n":
        return pos - 2
    if pos - 1 >= floor and raw[pos - 1:pos] in (b"\n", b"\r"):
        return pos - 1
    return pos
