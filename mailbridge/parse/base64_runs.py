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
from email.message import Message

# Runs shorter than this are left alone: each one costs a match and a substitution.
MIN_LINES = 8
# A base64 body starts after the blank line that ends its part's headers.
_BODY_START = re.compile(rb"\n\r?\n(?=[A-Za-z0-9+/])")
# Group 1: every line of the run but the last. The line breaks are those the parser splits at.
_RUN = re.compile(rb"((?:[A-Za-z0-9+/=]++(?:\r\n|\n|\r)){%d,})[A-Za-z0-9+/=]++(?:\r\n|\n|\r)" % (MIN_LINES - 1))
# The placeholder line: a NUL first makes it no header line, no blank line and no delimiter.
_MARK = "\x00base64 run "
_PLACEHOLDER = re.compile(re.escape(_MARK) + r"(\d+)\x00\n")


class Runs:
    """A message's bytes with its base64 runs taken out, and how to put them back in the tree."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._runs: list[str] = []
        if _MARK.encode("ascii") not in raw:
            self.raw = self._take_out(raw)

    def _take_out(self, raw: bytes) -> bytes:
        pieces: list[bytes] = []
        done = 0
        for start in _BODY_START.finditer(raw):
            if start.end() < done:
                continue
            run = _RUN.match(raw, start.end())
            if run is None:
                continue
            pieces += [raw[done:run.start()], b"%s%d\x00\n" % (_MARK.encode("ascii"), len(self._runs))]
            self._runs.append(run.group(1).decode("ascii"))
            done = run.end(1)
        return b"".join(pieces) + raw[done:] if pieces else raw

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
