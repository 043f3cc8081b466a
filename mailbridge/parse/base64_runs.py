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

# Shorter runs are left alone: each one costs a placeholder and a substitution.
MIN_BYTES = 1024
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# "base64", "Base64", "BASE64": how senders write the transfer encoding. A body declared in
# some other spelling is only parsed more slowly.
_DECLARATIONS = (b"ase64", b"ASE64")
# A part's header block goes on for a few lines after its Content-Transfer-Encoding.
_MAX_HEADER_LINES = 30
_MAX_LINE = 1000
# The placeholder line: a NUL first makes it no header line, no blank line and no delimiter.
_MARK = "\x00base64 run "
_MARK_BYTES = _MARK.encode("ascii")
_PLACEHOLDER = re.compile(re.escape(_MARK) + r"(\d+)\x00\n")


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

    Found with bytes methods over a few slices (a pattern matching line by line cost five times
    more); a body in any other shape (uneven lines, a bare CR, a stray character) is left out.
    """
    mentions = sorted(hit for word in _DECLARATIONS for hit in _hits(raw, word))
    for mention in mentions:
        start = _body_start(raw, mention)
        if start is not None:
            yield start, _run_end(raw, start)


def _hits(raw: bytes, word: bytes) -> Iterator[int]:
    hit = raw.find(word)
    while hit != -1:
        yield hit
        hit = raw.find(word, hit + len(word))


def _body_start(raw: bytes, position: int) -> int | None:
    """Where the body begins after the header line at `position`: past the next blank line."""
    newline = raw.find(b"\n", position)
    for _ in range(_MAX_HEADER_LINES):
        if newline == -1:
            return None
        line = newline + 1
        if raw[line:line + 1] == b"\n":
            return line + 1
        if raw[line:line + 2] == b"\r\n":
            return line + 2
        newline = raw.find(b"\n", line)
    return None


def _run_end(raw: bytes, start: int) -> int:
    """The end of the base64 lines from `start` on, less the last of them (`start` if none).

    Encoders write lines of one length, each with the same line break: the breaks are checked
    at every line's end by two strided slices, and the rest of the lines by one translate.
    """
    newline = raw.find(b"\n", start, start + _MAX_LINE)
    if newline <= start:
        return start
    eol = b"\r\n" if raw[newline - 1] == 13 else b"\n"
    width = newline + 1 - start
    length = width - len(eol)
    if length < 1:
        return start
    count = min(_leading(raw[start + length + k::width], eol[k]) for k in range(len(eol)))
    if raw[start:start + count * width].translate(None, _ALPHABET) != eol * count:
        return start
    return start + (count - 1) * width if count > 1 else start


def _leading(data: bytes, byte: int) -> int:
    """How many of the first bytes of `data` are `byte`."""
    return len(data) - len(data.lstrip(bytes([byte])))
