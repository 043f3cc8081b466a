"""Feed the stdlib parser one line for each long run of base64 lines, and put the runs back after.

The stdlib's feed parser reads a message line by line in Python (a call and a test per enclosing
boundary for every line), so a 200 KB attachment costs it 2,700 trips: on ordinary mail with
attachments, most of the time spent parsing. A line of base64 text (nothing but the base64
alphabet) is one the parser never acts on wherever it stands: it is no header line (no colon, no
leading blank, not "From "), no blank line and no delimiter (those begin with "--"), so it is only
appended to the payload, preamble or epilogue it is in. Replacing such lines with one placeholder
line that is just as inert changes none of the parser's decisions; the placeholders are then
swapped back in the strings it built, and the tree is the one the stdlib makes of the original.

The last line of each run is kept as it is: the line break before a delimiter is cut from the
text above it, and it must be the original line break that is cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message

from mailbridge.parse.lazy_re import lazy_compile

# Shorter runs are left alone: each one costs a placeholder and a substitution.
MIN_BYTES = 1024
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# "base64", "Base64", "BASE64": how senders write the transfer encoding. A body declared in
# some other spelling is only parsed more slowly.
_DECLARATIONS = (b"ase64", b"ASE64")
_BLANK_LINES = (b"\n\r\n", b"\n\n")
_MAX_LINE = 1000
# Real mail has a few base64 parts; hostile mail can declare one per line. Past this many
# bodies looked at, the rest of the message is left to the stdlib as it is.
_MAX_BODIES = 2_000
# The placeholder line: a NUL first makes it no header line, no blank line and no delimiter.
_MARK = "\x00base64 run "
_MARK_BYTES = _MARK.encode("ascii")
_PLACEHOLDER = lazy_compile(re.escape(_MARK) + r"(\d+)\x00\n")


class Runs:
    """A message's bytes with its base64 runs taken out, and how to put them back in the tree."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._runs: list[str] = []
        pieces: list[bytes] = []
        done = 0
        for start, end in _runs(raw):
            if start >= done and end - start >= MIN_BYTES:
                pieces += [raw[done:start], b"%s%d\x00\n" % (_MARK_BYTES, len(self._runs))]
                self._runs.append(raw[start:end].decode("ascii"))
                done = end
        pieces.append(raw[done:])
        # Mail that holds the marker itself is parsed as it is (the runs cannot hold it: NUL
        # is no base64 letter, so only what lies between them is searched).
        if self._runs and not any(_MARK_BYTES in piece for piece in pieces[::2]):
            self.raw = b"".join(pieces)
        else:
            self._runs = []

    def put_back(self, msg: Message) -> Message:
        """`msg`, parsed from `self.raw`, with the runs back in every payload, preamble and epilogue."""
        if not self._runs:
            return msg
        # With a stack, not msg.walk(): a tree as deep as the parser could build must not
        # exceed the recursion limit here.
        parts = [msg]
        while parts:
            part = parts.pop()
            if isinstance(part._payload, list):
                parts += (child for child in part._payload if isinstance(child, Message))
            else:
                part._payload = self._restored(part._payload)
            part.preamble = self._restored(part.preamble)
            part.epilogue = self._restored(part.epilogue)
        return msg

    def _restored(self, text):
        if not isinstance(text, str) or _MARK not in text:
            return text
        return _PLACEHOLDER.sub(lambda match: self._runs[int(match.group(1))], text)


def _runs(raw: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of the base64 lines that open each body declared base64, less the last line.

    Found with bytes methods (a pattern matching line by line cost five times more), every
    search moving forward only, so that no input costs more than a few passes over it.
    """
    mentions = _Ahead(raw, _DECLARATIONS)
    blank_lines = _Ahead(raw, _BLANK_LINES)
    position = 0
    for _ in range(_MAX_BODIES):
        if (mention := mentions.find(position)) is None:
            return
        blank = blank_lines.find(mention[0])
        if blank is None:
            return
        start = blank[0] + len(blank[1])
        end = _run_end(raw, start)
        yield start, end
        position = max(start, end)


def _run_end(raw: bytes, start: int) -> int:
    """The end of the base64 lines from `start` on, less the last of them (`start` if none).

    Encoders write lines of one length, each with the same line break: the breaks are checked
    at every line's end by strided slices, and the rest of the lines by one translate. Lines
    of other shapes (uneven, a bare CR, a stray character) end the run.
    """
    newline = raw.find(b"\n", start, start + _MAX_LINE)
    if newline <= start:
        return start
    eol = b"\r\n" if raw[newline - 1] == 13 else b"\n"
    width = newline + 1 - start
    if width == len(eol):
        return start  # A blank line.
    count = _even_lines(raw, start, width, eol)
    if raw[start:start + count * width].translate(None, _ALPHABET) != eol * count:
        return start
    return start + (count - 1) * width if count > 1 else start


def _even_lines(raw: bytes, start: int, width: int, eol: bytes) -> int:
    """How many lines from `start` on are `width` bytes long and end with `eol`.

    Read in windows that double, so a run costs about its own length, not the rest of the message.
    """
    count, window = 0, 64
    while True:
        first = start + count * width
        stop = min(len(raw), first + window * width)
        breaks = first + width - len(eol)
        found = min(_leading(raw[breaks + k:stop:width], byte) for k, byte in enumerate(eol))
        count += found
        if found < window or stop == len(raw):
            return count
        window *= 2


def _leading(data: bytes, byte: int) -> int:
    """How many of the first bytes of `data` are `byte`."""
    return len(data) - len(data.lstrip(bytes([byte])))


class _Ahead:
    """The nearest occurrence of any of a few byte strings at or after a position that only
    grows: each string is looked for again only once the position has passed its last hit."""

    def __init__(self, raw: bytes, needles: tuple[bytes, ...]) -> None:
        self._raw = raw
        self._needles = needles
        self._hits: dict[bytes, int] | None = None

    def find(self, position: int) -> tuple[int, bytes] | None:
        """(index, string) of the earliest hit at or after `position`, or None."""
        if self._hits is None:
            # Looked for from the first position asked only: a string that is not there (the
            # "\n\n" of CRLF mail, the blank lines of mail that declares no base64) costs a
            # pass over the whole message, and the search from the start may not be needed.
            self._hits = {needle: self._raw.find(needle, position) for needle in self._needles}
        for needle, hit in self._hits.items():
            if 0 <= hit < position:
                self._hits[needle] = self._raw.find(needle, position)
        return min(((hit, needle) for needle, hit in self._hits.items() if hit != -1), default=None)
