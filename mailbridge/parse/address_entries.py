"""Split an address list whose entries are all `name <address>` or bare, whatever the names hold.

Senders leave RFC 5322 specials unquoted in display names ("Max Kohl | [example.com] <kohl@x>"),
which the grammar reads as several mailboxes. When every entry has an angle address (or is a
bare `user@domain`), the entries are unambiguous: split at top-level commas (outside quotes,
angle brackets and comments) and take each name whole.
"""

from __future__ import annotations

import re

_BARE_ENTRY = re.compile(r'([^\s<>"(),:;@]{1,256}@[^\s<>"(),:;@]{1,256})(?:\s{0,20}\(([^()]{0,256})\))?')
_MAX_ENTRY = 1000


def angle_entries(text: str) -> list[tuple[str, str]] | None:
    """(name, address) pairs when every comma-separated entry is `name <address>` (or a bare
    `user@domain`), else None: the caller then uses the RFC 5322 parser."""
    if "<" not in text:
        return None
    pairs = []
    for entry in _top_level_split(text):
        entry = entry.strip()
        if len(entry) > _MAX_ENTRY:
            return None
        pair = _bare_entry(entry) or _angle_entry(entry)
        if pair is None:
            return None  # Not all name <address>, or a group ("team: a <a@x>;"): the RFC parser.
        pairs.append(pair)
    return pairs


def _bare_entry(entry: str) -> tuple[str, str] | None:
    match = _BARE_ENTRY.fullmatch(entry)
    return (match.group(2) or "", match.group(1)) if match else None


def _angle_entry(entry: str) -> tuple[str, str] | None:
    """`name <address>` (an optional "(comment)" after it) as (name, address), else None."""
    close = entry.rfind(">")
    opening = entry.rfind("<", 0, close)
    tail = entry[close + 1:].strip()
    if opening < 0 or (tail and not (tail.startswith("(") and tail.endswith(")"))):
        return None
    address, name = entry[opening + 1:close], entry[:opening].strip()
    if '"' in address or (":" in name.split('"')[0] and not name.startswith('"')):
        return None
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name.strip(), address.strip().rpartition(":")[2]


def _top_level_split(text: str) -> list[str]:
    """Split an address list at commas outside quotes, angle brackets and comments."""
    if "," not in text:
        return [text] if text.strip() else []  # One entry: no need to walk it character by character.
    entries, current, quoted, depth, angle, escaped = [], [], False, 0, False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"' and not angle:
            quoted = not quoted
        elif not quoted:
            angle = (angle or ch == "<") and ch != ">"
            depth += (ch == "(") - (ch == ")") if not angle else 0
            if ch == "," and not angle and depth <= 0:
                entries.append("".join(current))
                current = []
                continue
        current.append(ch)
    entries.append("".join(current))
    return [entry for entry in entries if entry.strip()]
