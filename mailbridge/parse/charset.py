"""Decode bytes to text by a recorded fallback chain, so that no charset problem is ever silent.

One function, `decode_text`, serves bodies and headers alike. The chain is: the declared charset
(through an alias table, so that names Python does not know never raise), then UTF-8, then the
legacy single-byte charset among windows-1250, windows-1252 and ISO-8859-2 whose result reads most
like Polish, Spanish or Western European text. Every step past the declared charset returns a defect.
"""

from __future__ import annotations

import codecs
import unicodedata

LEGACY_CHAIN = ("windows-1250", "windows-1252", "iso-8859-2")

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

# Letters that make a legacy decoding plausible: Polish, Spanish, German and French text.
_LIKELY = frozenset("ąćęłńóśźżĄĆĘŁŃÓŚŹŻáéíóúñüÁÉÍÓÚÑÜ¿¡äöüßÄÖÜàâçèéêëîïôûùÀÂÇÈÉÊ€„”“–—…")
# Characters that betray a wrong legacy decoding of such text (ą as ¹ or ±, ś as ¶, ł as ³).
_UNLIKELY = frozenset("¶±¹²³¼½¾ˇ˘˝¨´¸¤¦¬¯·×÷")
_VOWELS = frozenset("aeiouyAEIOUY")


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
    return key


def decode_text(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Decode `data` by the fallback chain; return the text and a defect string or None."""
    codec = normalise_charset(declared)
    if data.isascii() and _ascii_compatible(codec):
        return data.decode("ascii"), None
    label = declared.strip() if declared else None
    if codec is None:
        return _fallback(data, "none declared" if not label else f"declared {label!r} carries no charset")
    if not _known(codec):
        return _fallback(data, f"declared {label!r} unknown")
    if codec.replace("_", "-") in _WESTERN:
        return _decode_western(data, label)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return _mostly_declared(data, codec, label) or _fallback(data, f"declared {label!r} does not fit")
    return _check_single_byte_utf8(data, text, codec, label)


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


def _known(codec: str) -> bool:
    try:
        codecs.lookup(codec)
    except LookupError:
        return False
    return True


def _decode_western(data: bytes, label: str | None) -> tuple[str, str | None]:
    if _is_real_utf8(data):
        return data.decode("utf-8"), f"charset: declared {label!r} but the text is utf-8, decoded as utf-8"
    try:
        return data.decode("windows-1252"), None
    except UnicodeDecodeError:
        # The five bytes windows-1252 leaves undefined are C1 controls in ISO-8859-1 itself.
        return data.decode("latin-1"), None


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


def _fallback(data: bytes, why: str) -> tuple[str, str]:
    """UTF-8, then the best legacy charset; bytes mixing both are decoded run by run."""
    text = data.decode("utf-8", "surrogateescape")
    if not _has_surrogates(text):
        return text, f"charset: {why}, decoded as utf-8"
    if _has_real_non_ascii(text):
        legacy = best_legacy(_surrogate_bytes(text))
        fixed = _replace_surrogate_runs(text, legacy)
        return fixed, f"charset: {why}, decoded as utf-8 mixed with {legacy}"
    legacy = best_legacy(data)
    return data.decode(legacy), f"charset: {why}, decoded as {legacy}"


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _has_real_non_ascii(text: str) -> bool:
    return any(ch > "\x7f" and not "\udc80" <= ch <= "\udcff" for ch in text)


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


def best_legacy(data: bytes) -> str:
    """The legacy charset of LEGACY_CHAIN whose decoding of `data` reads most plausibly."""
    best, best_score = LEGACY_CHAIN[-1], None
    for name in LEGACY_CHAIN:
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        score = plausibility(text)
        if best_score is None or score > best_score:
            best, best_score = name, score
    return best


def plausibility(text: str) -> int:
    """Score decoded text: common accented letters up, control characters and odd symbols down."""
    score = 0
    for index, ch in enumerate(text):
        if ch >= "\x80":
            score += _char_score(ch, text[index + 1: index + 2])
    return score


def _char_score(ch: str, following: str) -> int:
    if ch in _UNLIKELY:
        return -3
    if unicodedata.category(ch) in ("Cc", "Co", "Cn"):
        return -5
    score = 1 if ch in _LIKELY else 0
    # A lowercase letter glued to a following capital ("żQué") is a misread "¿Qué".
    if ch.islower() and following.isupper():
        score -= 2
    # Polish writes "ni" before a vowel, so "ń" + vowel is a misread Spanish "ñ".
    if ch in "ńŃ" and following in _VOWELS:
        score -= 2
    if ch in "ñÑ" and following in _VOWELS:
        score += 1
    return score
