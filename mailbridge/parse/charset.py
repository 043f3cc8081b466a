"""Decode bytes to text by a recorded fallback chain, so that no charset problem is ever silent.

One function, `decode_text`, serves bodies and headers alike. The chain is: the declared charset
(through an alias table, so that names Python does not know never raise), then UTF-8, then the
charsets the rest of the message declares (`hints`), then the legacy charset whose reading looks
most like text (`charset_guess`: Latin, Cyrillic, Chinese, Japanese, Korean). Every step past the
declared charset returns a defect.
"""

from __future__ import annotations

from collections.abc import Iterable

import codecs

from mailbridge.parse.charset_guess import CANDIDATES, best_charset, plausibility, scoring_sample
from mailbridge.parse.iso2022jp import decode_cp50220

__all__ = ["decode_text", "normalise_charset", "best_legacy", "plausibility"]

# Names seen in real mail that Python does not know, or that name a subset of what senders
# really use (mail labelled gb2312 is routinely gbk, ks_c_5601-1987 is cp949, and so on).
# None means "no information": decode by the fallback chain without calling it unknown.
ALIASES: dict[str, str | None] = {
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",
    "cp-1250": "windows-1250",
    "cp-1251": "windows-1251",
    "cp-1252": "windows-1252",
    "win-1250": "windows-1250",
    "win-1252": "windows-1252",
    "x-cp1250": "windows-1250",
    "x-cp1252": "windows-1252",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "x-user-defined": "windows-1252",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "utf7": "utf-7",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "x-euc-cn": "gb18030",
    "euc-cn": "gb18030",
    "big5-hkscs": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "x-euc-jp": "euc-jp",
    "windows-949": "cp949",
    "x-windows-949": "cp949",
    "sjis-open": "cp932",
    "x-sjis-open": "cp932",
    "ms_kanji": "cp932",
    "windows-1251": "windows-1251",
    "win-1251": "windows-1251",
    "x-cp1251": "windows-1251",
    "x-unknown": None,
    "unknown": None,
    "unknown-8bit": None,
    "x-unknown-8bit": None,
    "8bit": None,
    "default": None,
    "charset": None,
    "none": None,
}

# Charsets whose declaration is really a promise of windows-1252, as browsers treat them: mail
# labelled ISO-8859-1 routinely carries curly quotes and euro signs in 0x80-0x9F.
_WESTERN = frozenset({"ascii", "us-ascii", "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1"})

# Labels that promise ASCII: with 8-bit bytes under them they say nothing about the charset.
_ASCII = frozenset({"ascii", "us-ascii", "ansi_x3.4-1968", "us"})
# How much a charset the message declares elsewhere is preferred over a guess, per 8-bit byte.
_HINT_BONUS = 0.25


def normalise_charset(name: str | None) -> str | None:
    """The Python codec name for a declared charset, None when there is no usable declaration."""
    if not name:
        return None
    key = name.strip().strip("\"'").strip().lower()
    # RFC 2231 allows a language suffix on the charset ("utf-8*en").
    key = key.split("*", 1)[0]
    if not key:
        return None
    if key in ALIASES:
        return ALIASES[key]
    if key.startswith("x-") and not _known(key) and _known(key[2:]):
        return ALIASES.get(key[2:], key[2:])  # "x-iso-8859-2", "x-koi8-r": experimental names.
    return key


def decode_text(data: bytes, declared: str | None, hints: Iterable[str] = ()) -> tuple[str, str | None]:
    """Decode `data` by the fallback chain; return the text and a defect string or None.

    `hints` are the charsets the rest of the message declares: the best clue to undeclared
    or mislabelled bytes, tried before any guess.
    """
    codec = normalise_charset(declared)
    if data.isascii() and _ascii_compatible(codec):
        return data.decode("ascii"), None
    label = declared.strip() if declared else None
    if codec is None:
        return _fallback(data, "none declared" if not label else f"declared {label!r} carries no charset", hints)
    if not _known(codec):
        return _fallback(data, f"declared {label!r} unknown", hints)
    if codec.replace("_", "-") in _ASCII:
        return _fallback(data, f"declared {label!r} over 8-bit bytes", hints)
    if codec.replace("_", "-") in _WESTERN:
        return _decode_western(data, label)
    try:
        text = data.decode(codec)
    except UnicodeError:
        if codecs.lookup(codec).name.startswith("iso2022_jp"):
            return _windows_iso2022jp(data, label)
        return _mostly_declared(data, codec, label) or _fallback(data, f"declared {label!r} does not fit", hints)
    return _check_single_byte_utf8(data, text, codec, label)


def _windows_iso2022jp(data: bytes, label: str | None) -> tuple[str, str | None]:
    """ISO-2022-JP with the Windows extensions ("№", "①") the strict codec refuses."""
    text = decode_cp50220(data)
    broken = text.count("\ufffd")
    return text, (f"charset: declared {label!r} has {broken} undecodable byte sequence(s), replaced"
                  if broken else None)


def _mostly_declared(data: bytes, codec: str, label: str | None) -> tuple[str, str] | None:
    """The declared decoding when only a few bytes break it (a truncated UTF-16 part, one bad
    JIS sequence); reading such text as UTF-8 or a legacy charset would garble all of it."""
    if codecs.lookup(codec).name == "utf-8":
        return None
    text = data.decode(codec, "replace")
    broken = text.count("\ufffd")
    if broken > max(2, len(text) // 100):
        return None
    return text, f"charset: declared {label!r} has {broken} undecodable byte sequence(s), replaced"


def _ascii_compatible(codec: str | None) -> bool:
    """False for encodings whose ASCII-only bytes are not ASCII text (UTF-7, ISO-2022, UTF-16)."""
    name = (codec or "").replace("_", "-")
    return not name.startswith(("utf-7", "utf7", "iso2022", "iso-2022", "hz", "utf-16", "utf-32",
                                "utf16", "utf32"))


# Codecs Python reads bytes into text with that are no charset a mail may declare: a label
# naming one is treated as unknown (a crash or a silent garbling otherwise).
_NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"})


def is_text_charset(name: str | None) -> bool:
    """Whether `name` is a codec that decodes bytes into text as a mail charset does.

    `codecs.lookup` also finds bytes-to-bytes codecs (base64, zlib, hex, uu, quopri, bz2),
    str-to-str ones (rot13) and a few text codecs that are not charsets at all (idna,
    punycode, undefined): decoding with any of them raises LookupError or UnicodeError.
    """
    if not name:
        return False
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return False
    return info._is_text_encoding and info.name not in _NOT_CHARSETS


def _known(codec: str) -> bool:
    return is_text_charset(codec)


def _decode_western(data: bytes, label: str | None) -> tuple[str, str | None]:
    if _is_real_utf8(data):
        return data.decode("utf-8"), f"charset: declared {label!r} but the text is utf-8, decoded as utf-8"
    try:
        text = data.decode("windows-1252")
    except UnicodeDecodeError:
        # The five bytes windows-1252 leaves undefined are C1 controls in ISO-8859-1 itself.
        return data.decode("latin-1"), None
    return _central_european(data, text, label) or (text, None)


def _central_european(data: bytes, western: str, label: str | None) -> tuple[str, str] | None:
    """Polish or Czech text under a Western label (old Outlook Express did this): the reading
    as windows-1250 or ISO-8859-2, when it is clearly better ("Dzieñ dobry, proszê" → "ę")."""
    sample = scoring_sample(data)
    eight_bit = sum(byte > 0x7F for byte in sample)
    if eight_bit < 2:
        return None
    base = plausibility(sample.decode("windows-1252", "replace"), "windows-1252") + 2 + eight_bit // 4
    scores = {name: plausibility(sample.decode(name, "replace"), name) for name in ("windows-1250", "iso-8859-2")}
    best = max(scores, key=lambda name: scores[name])
    if scores[best] <= base:
        return None
    return data.decode(best, "replace"), f"charset: declared {label!r} but the text reads as {best}"


def _check_single_byte_utf8(data: bytes, text: str, codec: str, label: str | None):
    # A single-byte charset accepts any bytes, so UTF-8 mislabelled as, say, windows-1250 would
    # silently become mojibake; valid multi-byte UTF-8 is almost never real legacy text.
    if _single_byte(codec) and _is_real_utf8(data):
        return data.decode("utf-8"), f"charset: declared {label!r} but the text is utf-8, decoded as utf-8"
    return text, None


def _single_byte(codec: str) -> bool:
    name = codecs.lookup(codec).name
    return name.startswith(("cp12", "iso8859", "latin", "mac-", "koi8", "cp8", "cp4", "cp1"))


def _is_real_utf8(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not text.isascii()


def _fallback(data: bytes, why: str, hints: Iterable[str] = ()) -> tuple[str, str]:
    """UTF-8, then the message's other charsets, then the best guess; bytes mixing UTF-8 and a
    legacy charset are decoded run by run."""
    text = data.decode("utf-8", "surrogateescape")
    if not _has_surrogates(text):
        return text, f"charset: {why}, decoded as utf-8"
    if _mostly_utf8(text):
        legacy = best_legacy(_surrogate_bytes(text), hints)
        fixed = _replace_surrogate_runs(text, legacy)
        return fixed, f"charset: {why}, decoded as utf-8 mixed with {legacy}"
    legacy = best_legacy(data, hints)
    hinted = " (declared elsewhere in the message)" if legacy in _usable(hints) else ""
    return data.decode(legacy), f"charset: {why}, decoded as {legacy}{hinted}"


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _mostly_utf8(text: str) -> bool:
    """Whether most 8-bit bytes formed UTF-8 characters (one client's legacy word pasted into
    UTF-8 text); legacy multi-byte text (GBK, Shift_JIS) forms a few UTF-8 pairs by chance."""
    real = sum(len(ch.encode("utf-8")) for ch in text if ch > "\x7f" and not "\udc80" <= ch <= "\udcff")
    broken = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    return real >= 2 * broken


def _surrogate_bytes(text: str) -> bytes:
    return bytes(ord(ch) - 0xDC00 for ch in text if "\udc80" <= ch <= "\udcff")


def _replace_surrogate_runs(text: str, legacy: str) -> str:
    out: list[str] = []
    run = bytearray()
    for ch in text:
        if "\udc80" <= ch <= "\udcff":
            run.append(ord(ch) - 0xDC00)
            continue
        if run:
            out.append(run.decode(legacy, "replace"))
            run.clear()
        out.append(ch)
    if run:
        out.append(run.decode(legacy, "replace"))
    return "".join(out)


def best_legacy(data: bytes, hints: Iterable[str] = ()) -> str:
    """The legacy charset whose decoding of `data` reads most plausibly; the message's own
    declared charsets (`hints`) first, and preferred unless another reads clearly better."""
    hinted = _usable(hints)
    if not hinted:
        return best_charset(data)
    sample = scoring_sample(data)
    bonus = _HINT_BONUS * sum(byte > 0x7F for byte in sample) + 1
    best, best_score = None, None
    for name in hinted + tuple(c for c in CANDIDATES if c not in hinted):
        try:
            data.decode(name)
            text = sample.decode(name)
        except UnicodeDecodeError:
            continue
        score = plausibility(text, name) + (bonus if name in hinted else 0)
        if best_score is None or score > best_score:
            best, best_score = name, score
    return best or best_charset(data)


def _usable(hints: Iterable[str]) -> tuple[str, ...]:
    """The hints that name a known legacy charset (not UTF-8, ASCII or a 7-bit encoding)."""
    found = []
    for hint in hints:
        codec = normalise_charset(hint)
        if not codec or not _known(codec) or not _ascii_compatible(codec):
            continue
        if codecs.lookup(codec).name not in ("utf-8", "ascii"):
            found.append(codec)
    return tuple(dict.fromkeys(found))
