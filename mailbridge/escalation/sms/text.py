"""SMS text: GSM-7 or UCS-2, how many segments, and fitting a text into the segments allowed.

One GSM-7 segment holds 160 characters (153 each when concatenated), and the extension table's
characters (`€ [ ] { } ^ ~ | \\`) take two. A single character outside GSM-7 (Polish ą ę ł ś ż,
Spanish á í ó ú ¿ ¡) makes the whole text UCS-2: 70 UTF-16 units (67 concatenated). Optional
transliteration replaces what GSM-7 lacks with its plain letter (ł → l, á → a; é, ñ, ü stay).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# The GSM 03.38 basic character set and its extension table (each extension character costs two).
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = frozenset("\f^{}\\[~]|€")
# Letters whose decomposition has no base letter, and typographic marks common in pasted text.
_PLAIN = {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "–": "-", "—": "-", "„": '"', "”": '"',
          "“": '"', "’": "'", "‘": "'", "…": "...", "\u00a0": " "}


@dataclass(frozen=True, slots=True)
class Segments:
    """How a text would travel: its encoding, its length in that encoding's units, its segments."""

    encoding: str
    units: int
    count: int


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC or ch in _EXTENSION for ch in text)


def segments(text: str) -> Segments:
    """The encoding, length and number of segments of `text`."""
    if is_gsm7(text):
        units = sum(2 if ch in _EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    count = 1 if units <= single else -(-units // multi)
    return Segments(encoding, units, count)


def transliterate(text: str) -> str:
    """Replace each character GSM-7 lacks by its plain form (ą → a, ł → l, ¿ and é kept)."""
    out = []
    for ch in text:
        if ch in _BASIC or ch in _EXTENSION:
            out.append(ch)
        elif ch in _PLAIN:
            out.append(_PLAIN[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and is_gsm7(base) else "?")
    return "".join(out)


def fit(text: str, *, max_segments: int = 1, transliterated: bool = False) -> str:
    """`text` as one line, transliterated when asked, cut (with "…" or "...") to `max_segments`."""
    text = " ".join(text.split())
    if transliterated:
        text = transliterate(text)
    if segments(text).count <= max_segments:
        return text
    ellipsis = "..." if is_gsm7(text) else "…"
    low, high = 0, len(text)
    # The longest prefix that fits with its ellipsis: texts are short, a bisection is plenty.
    while low < high:
        middle = (low + high + 1) // 2
        if segments(text[:middle].rstrip() + ellipsis).count <= max_segments:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ellipsis
