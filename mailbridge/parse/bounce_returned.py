"""Find where a plain-text bounce notice ends and the returned copy of the original message begins.

Addresses after that point belong to the returned message (its sender, its To and Cc, the list
it went through), not to the failure report, so recipient extraction only reads what is above.
The copy starts at a marker line ("------ This is a copy of the message …", "--- Below this
line is a copy …") or, when the MTA wrote none, at the first pasted header block.
"""

from __future__ import annotations

import re

from mailbridge.parse.lazy_re import lazy_compile

# Marker lines, after optional decoration. Anchored at a line start (not at the blank lines
# above it), so that what follows the match's line is the copy itself.
RETURNED_RE = lazy_compile(
    r"^[ \t\-=*_>|]*(?:this is a copy of (?:the|your) message|below this line is a copy"
    r"|original message(?! was)|unsent message follows|returned message|message headers follow"
    r"|included message|the original message headers|here is a copy|original mail"
    r"|headers? of (?:the|your) original|copy of the original|message text follows"
    r"|the header of the original message|included is a copy|copy of the message header"
    r"|undelivered message|original message header|your message reads"
    r"|(?:wiadomość|wiadomosc) oryginalna|mensaje original|kopia wiadomości)",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_LINE_RE = lazy_compile(r"^([A-Za-z][A-Za-z0-9-]{0,40}):[ \t]*\S")
# Fields only a message's own header has: one of them in a run of header lines marks a pasted
# header block. The notice's own report fields (Final-Recipient, Action, Status) are not here.
_MESSAGE_ONLY = frozenset({
    "received", "return-path", "message-id", "mime-version", "dkim-signature", "delivered-to",
    "x-received", "arc-seal", "arc-message-signature", "arc-authentication-results",
    "authentication-results", "x-google-smtp-source", "x-mailer", "user-agent", "in-reply-to",
    "references", "domainkey-signature", "received-spf",
})
# Content-* fields are left out: a MIME part's own header pasted in a broken notice has them.
_MESSAGE_FIELDS = _MESSAGE_ONLY | {"from", "to", "cc", "subject", "date", "sender", "reply-to"}
_SCAN_LIMIT = 200_000


def notice_part(body: str) -> str:
    """The bounce notice without the returned copy of the original message."""
    end = len(body)
    if match := RETURNED_RE.search(body):
        end = match.start()
    if (block := header_block_start(body, 0, end)) is not None:
        end = block
    return body[:end]


def after_marker(body: str) -> str:
    """The text after the returned-message marker line (or pasted header block), else ''."""
    notice = notice_part(body)
    rest = body[len(notice):]
    if RETURNED_RE.match(rest):
        rest = rest.split("\n", 1)[1] if "\n" in rest else ""
    return rest


def header_block_start(body: str, start: int, end: int) -> int | None:
    """Offset of the first run of header lines in body[start:end] that only a message has.

    A run is two or more "Name: value" lines flush left (folded lines between them allowed),
    with a field of `_MESSAGE_ONLY` among them, or three of the usual message fields.
    """
    offset = start
    run_start, names = None, []
    for line in body[start:min(end, start + _SCAN_LIMIT)].split("\n"):
        match = _HEADER_LINE_RE.match(line)
        name = match.group(1).lower() if match else None
        if name in _MESSAGE_FIELDS or (match and run_start is not None):
            # A known field starts or continues a run; any other field (an X-header) continues it.
            run_start = offset if run_start is None else run_start
            names += [name] if name in _MESSAGE_FIELDS else []
            if _is_header_block(names):
                return run_start
        elif not (run_start is not None and line[:1] in (" ", "\t") and line.strip()):
            run_start, names = None, []
        offset += len(line) + 1
    return None


def _is_header_block(names: list[str]) -> bool:
    if len(names) >= 3:
        return True
    return len(names) == 2 and any(name in _MESSAGE_ONLY for name in names)
