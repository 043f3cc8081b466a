"""Repair a header block the stdlib parser would give up on, so one odd line cannot lose every header.

The stdlib ends the header block at the first line that is neither a field nor a continuation,
and reads everything after it as body: a pasted line above the headers ("---- Original email
message ----"), a field without a colon, or a long value whose wrap lost its indentation turns
a whole message into a headerless body. `repair_headers` mends such a block field by field and
says what it did in a defect per repair; the raw bytes the message keeps are untouched.
"""

from __future__ import annotations

import re

from mailbridge.parse.lazy_re import lazy_compile

_FIELD_RE = lazy_compile(rb"^[!-9;-~]{1,76}:")
# Fields that prove a header block: a block needs one of these, not just "Note:"-style lines.
_KNOWN_RE = lazy_compile(
    rb"^(?:from|to|cc|subject|date|message-id|received|return-path|mime-version|content-type"
    rb"|reply-to|sender|in-reply-to|references|delivered-to|x-[!-9;-~]{1,60}):",
    re.IGNORECASE,
)
# "X-Spam-Flag YES", "Content-Type text/plain": a field that lost its colon, not wrapped text.
_FIELD_NAME_LIKE = lazy_compile(rb"^[A-Za-z]+(?:-[A-Za-z0-9]+)+(?:\s|$)")
_MAX_PREAMBLE_LINES = 3
_MAX_HEADER_BYTES = 512 * 1024
_DECORATION = b" \t-_=*#~<>[]|"
# A first field whose name got a space before the colon ("Fro :uMmlti …"): unreadable, skipped.
_GARBLED_FIELD_RE = lazy_compile(rb"^[A-Za-z][A-Za-z0-9-]{0,30}[ \t]+:")


def repair_headers(raw: bytes) -> tuple[bytes, list[str]] | None:
    """The message with its header block mended, and the defects; None when nothing needs it."""
    lines = raw[:_MAX_HEADER_BYTES].split(b"\n")
    start, defects = _skip_preamble(lines)
    if start is None:
        return None
    out: list[bytes] = lines[:1] if lines[0].startswith(b"From ") else []
    end = _mend_block(lines, start, out, defects)
    if not defects:
        return None
    rest = b"\n".join(lines[end:])
    return b"\n".join(out) + b"\n" + rest + raw[_MAX_HEADER_BYTES:], defects


def _skip_preamble(lines: list[bytes]) -> tuple[int | None, list[str]]:
    """Where the header block starts: after an mbox "From " line and at most a few pasted
    marker lines ("---- Original email message ----", a rule) or garbled fields; prose is
    not skipped."""
    first = 1 if lines and lines[0].startswith(b"From ") else 0
    for start in range(first, min(first + _MAX_PREAMBLE_LINES + 1, len(lines))):
        line = lines[start]
        if _FIELD_RE.match(line):
            if start == first or (_KNOWN_RE.match(line) and _is_block(lines, start)):
                skipped = [line.strip() for line in lines[first:start] if line.strip()]
                return start, [f"headers: text above the header block skipped: {_show(s)}" for s in skipped]
            return None, []
        if line.strip() and not (_is_marker_line(line) or _GARBLED_FIELD_RE.match(line)):
            return None, []
    return None, []


def _is_marker_line(line: bytes) -> bool:
    """A decorated line a client pastes above a copied message, or a bare rule."""
    stripped = line.strip()
    core = stripped.strip(_DECORATION)
    return len(stripped) - len(core) >= 4 and len(core) <= 60


def _is_block(lines: list[bytes], start: int) -> bool:
    """Two known fields within the first few lines: a header block, not a body line like "To: do"."""
    known = sum(1 for line in lines[start:start + 6] if _KNOWN_RE.match(line))
    return known >= 2


def _mend_block(lines: list[bytes], start: int, out: list[bytes], defects: list[str]) -> int:
    """Copy the header block to `out`, mending odd lines; return the index of its end."""
    index = start
    while index < len(lines):
        line = lines[index].rstrip(b"\r")
        if not line:
            return index
        if _FIELD_RE.match(line) or (line[:1] in (b" ", b"\t") and out):
            out.append(lines[index])
        elif not _more_fields_follow(lines, index + 1):
            # The body began without the blank line that should part it from the header.
            defects.append("headers: no blank line between header and body; one assumed")
            out.append(b"")
            return index
        elif out and not _FIELD_NAME_LIKE.match(line):
            # A value wrapped by a client that forgot the indentation of folding.
            out.append(b" " + lines[index])
            defects.append(f"headers: unindented continuation line joined to the field above: {_show(line)}")
        else:
            defects.append(f"headers: line without a field name dropped: {_show(line)}")
        index += 1
    return index


def _more_fields_follow(lines: list[bytes], index: int) -> bool:
    """Whether a known field comes within the next two lines (the header block goes on)."""
    return any(_KNOWN_RE.match(line) for line in lines[index:index + 2])


def _show(line: bytes) -> str:
    return repr(line[:80].decode("utf-8", "replace"))
