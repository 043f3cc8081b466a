"""Find uuencoded files (`begin 644 name` ... `end`) inside a plain-text body and cut them out.

Old clients and some scanners still send attachments this way, inline in the text; the text
keeps everything around the blocks and each block becomes an attachment with its decoded bytes.
"""

from __future__ import annotations

import binascii
import hashlib
import re

from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.model import Attachment

_UU_BEGIN = lazy_compile(r"^begin [0-7]{3,4} ([^\n]+)\n", re.MULTILINE)
_UU_END = lazy_compile(r"^end[ \t]*$", re.MULTILINE)


def uuencoded_attachments(text: str) -> tuple[str, list[Attachment]]:
    """The text without its uuencoded blocks, and one attachment per block."""
    if "begin " not in text:
        return text, []
    text, blocks = extract_uuencoded(text)
    return text, [_attachment(name, data) for name, data in blocks]


def extract_uuencoded(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Cut `begin 644 name` ... `end` blocks out of a text body; return the text and the files."""
    blocks: list[tuple[str, bytes]] = []
    kept: list[str] = []
    position = 0
    for begin in _UU_BEGIN.finditer(text):
        if begin.start() < position:
            continue
        end = _UU_END.search(text, begin.end())
        if end is None:
            break
        kept.append(text[position:begin.start()])
        blocks.append((begin.group(1).strip(), _uu_decode(text[begin.end():end.start()])))
        position = end.end() + 1
    if not blocks:
        return text, []
    kept.append(text[position:])
    return "".join(kept), blocks


def _uu_decode(block: str) -> bytes:
    out = bytearray()
    for line in block.split("\n"):
        if not line.strip() or line.strip() == "`" or not line.isascii():
            continue  # a non-ASCII line is no uuencoded line (binascii raises ValueError on it)
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # Encoders that strip trailing spaces leave lines short; decode what the length byte says.
            length = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:length])
            except binascii.Error:
                continue
    return bytes(out)


def _attachment(name: str, data: bytes) -> Attachment:
    return Attachment(filename=name, content_type="application/octet-stream", size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), inline=False, content_id=None,
                      payload=data)
