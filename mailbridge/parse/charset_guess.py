"""Guess the legacy charset of undeclared 8-bit text: Latin, Cyrillic, Chinese, Japanese, Korean.

Each candidate codec decodes the bytes strictly and the reading is scored by how much it looks
like written text: accented letters inside words, Cyrillic words without Latin letters glued in,
CJK characters from the commonly used block of their own codec (GB2312 level 1, Big5 frequent
characters, JIS level 1, KS X 1001 Hangul). Wrong readings give long runs of accented capitals,
symbols, half-width katakana or rare ideographs, and score low.

Measured against charset-normalizer on ../shared/corpus and on our own sentences in every
charset listed here (bench/charset_eval.py); this scorer won on both, see that script.
"""

from __future__ import annotations

import unicodedata

from mailbridge.parse.lazy_re import lazy_compile

# Latin first: on a tie the charsets of our customers' languages win.
CANDIDATES = ("windows-1250", "windows-1252", "iso-8859-2", "iso-8859-15", "windows-1251", "koi8-r",
              "gb18030", "big5hkscs", "cp932", "euc-jp", "cp949")
_LATIN = frozenset({"windows-1250", "windows-1252", "iso-8859-2"})
# Letters that make a Latin reading plausible: Polish, Spanish, German, French, Czech text.
_LIKELY = frozenset("ąćęłńóśźżĄĆĘŁŃÓŚŹŻáéíóúñüÁÉÍÓÚÑÜ¿¡äöüßÄÖÜàâçèéêëîïôûùÀÂÇÈÉÊ€„”“–—…"
                    "øåæØÅÆºčďěňřšťůýžČĎĚŇŘŠŤŮÝŽ‘’®©°")
# The accented letters of each language a reading may be in; a reading whose letters no one
# language uses ("úètu" for Czech "účtu", "żpodría" for "¿podría") mixes two charsets' letters.
_LANGUAGES = tuple(frozenset(letters) for letters in (
    "ąćęłńóśźż", "áčďéěíňóřšťúůýž", "áéíóúñü¿¡", "àâçèéêëîïôûùœÿ", "äöüß", "ãõçáéíóúâêôà",
    "àèéìòùíóú", "åæøéäö", "áéíóöőúüű", "ăâîșşțţ",
))
# Characters that betray a wrong Latin reading (ą as ¹ or ±, ś as ¶, ł as ³).
_UNLIKELY = frozenset("¶±¹²³¼½¾ˇ˘˝¨´¸¤¦¬¯·×÷")
_VOWELS = frozenset("aeiouyAEIOUY")
_SAMPLE = 16 * 1024
_EIGHT_BIT = lazy_compile(rb"[\x80-\xff]")
_NON_ASCII = lazy_compile(r"[^\x00-\x7f]+")
# Where each CJK codec keeps its frequently used characters, by lead byte of the encoded char.
_COMMON_LEAD = {
    "gb18030": ("gb2312", 0xB0, 0xD7),
    "big5hkscs": ("big5", 0xA4, 0xC6),
    "cp932": ("cp932", 0x88, 0x9F),
    "euc-jp": ("euc-jp", 0xB0, 0xCF),
    "cp949": ("euc-kr", 0xB0, 0xC8),
}


def best_charset(data: bytes, candidates: tuple[str, ...] = CANDIDATES) -> str:
    """The candidate whose strict decoding of `data` reads most like text (Latin on ties)."""
    sample = scoring_sample(data)
    best, best_score = candidates[0], None
    for name in candidates:
        try:
            data.decode(name)  # The whole must decode; only the sample is scored.
            text = sample.decode(name)
        except UnicodeDecodeError:
            continue
        score = plausibility(text, name)
        if best_score is None or score > best_score:
            best, best_score = name, score
    if best_score is None:
        return "windows-1252" if "windows-1252" in candidates else candidates[0]
    return best


def scoring_sample(data: bytes) -> bytes:
    """At most `_SAMPLE` bytes from the first 8-bit byte on, cut at ASCII bytes so that no
    multi-byte character is split: scoring a megabyte eleven times would take seconds."""
    if len(data) <= _SAMPLE:
        return data
    eight_bit = _EIGHT_BIT.search(data)
    first = eight_bit.start() if eight_bit else 0
    start = max(data.rfind(b"\n", 0, first) + 1, first - 200, 0)
    end = start + _SAMPLE
    while end < len(data) and end > start and data[end - 1] > 0x7F:
        end -= 1
    return data[start:end]


def plausibility(text: str, codec: str = "windows-1252") -> float:
    """Score a reading: about +1 per byte of plausible text, negative for signs of a misreading."""
    score = 0.0
    letters: dict[str, int] = {}
    # ASCII scores nothing: only the runs of other characters are walked, each knowing the
    # character before it (a blank at the start of the text).
    for segment in _NON_ASCII.finditer(text):
        start, end = segment.span()
        run = 0
        previous = text[start - 1] if start else " "
        for index in range(start, end):
            ch = text[index]
            following = text[index + 1: index + 2]
            score += _char_score(ch, previous, following, codec)
            if ch in _LIKELY and ch not in "ºª" and (ch.isalpha() or ch in "¿¡"):
                letters[ch.lower()] = letters.get(ch.lower(), 0) + 1
            # Chinese and Japanese put no spaces between words; Korean read as Chinese has them.
            if previous == " " and _is_ideograph(ch) and index >= 2 and _is_ideograph(text[index - 2]):
                score -= 3
            # Accented Latin letters come one or two at a time inside words; longer runs are
            # multi-byte text read one byte at a time ("ÄúºÃ£¬" for Chinese, "Çäðàâñòâ" for Russian).
            run = run + 1 if _is_latin(ch) or unicodedata.category(ch)[0] in "PS" else 0
            if run > 3:
                score -= 2
            previous = ch
    return score - 3 * _foreign_letters(letters)


def _foreign_letters(letters: dict[str, int]) -> int:
    """How many accented letters the best-fitting language of `_LANGUAGES` does not use."""
    if not letters:
        return 0
    total = sum(letters.values())
    return total - max(sum(n for ch, n in letters.items() if ch in language) for language in _LANGUAGES)


def _char_score(ch: str, previous: str, following: str, codec: str) -> float:
    category = unicodedata.category(ch)
    if category in ("Cc", "Co", "Cn", "Cs"):
        return -5
    if ch in _UNLIKELY:
        return -3
    if "\u0400" <= ch <= "\u04ff":
        return _cyrillic_score(ch, previous, following)
    if "\uff61" <= ch <= "\uff9f" or "\u3130" <= ch <= "\u318f" or "\u2460" <= ch <= "\u27bf" \
            or "\u2500" <= ch <= "\u259f":
        return -5  # Half-width katakana, Hangul jamo, dingbats, box drawing: misreadings.
    if ch >= "\u2e80":
        # An ideograph glued to an English word ("wasn稚 found") is a curly quote misread.
        return _cjk_score(ch, codec) - (3 if previous.isascii() and previous.isalpha() else 0)
    if codec not in _LATIN and category.startswith("L"):
        return -1  # A Latin letter from a CJK or Cyrillic codec: its own script was expected.
    return _latin_score(ch, previous, following)


def _latin_score(ch: str, previous: str, following: str) -> float:
    score = 1.0 if ch in _LIKELY else 0.0
    if previous == " " and following in (" ", ""):
        # A letter standing alone as a word: Italian "è", French "à", Polish "ó"… not "č".
        score += 1 if ch in "èàéóùÀÈ" else -1
    # A lowercase letter glued to a following capital ("żQué") is a misread "¿Qué".
    if ch.islower() and following.isupper():
        score -= 2
    # Polish writes "ni" before a vowel, so "ń" + vowel is a misread Spanish "ñ".
    if ch in "ńŃ" and following in _VOWELS:
        score -= 2
    if ch in "ñÑ" and following in _VOWELS:
        score += 1
    return score


def _cyrillic_score(ch: str, previous: str, following: str) -> float:
    # Russian text is mostly lowercase; KOI8-R read as windows-1251 (or back) swaps the cases.
    score = 1.0 if ch.islower() else 0.2
    if _is_latin(previous) or _is_latin(following):
        score -= 3  # "cafй": a Cyrillic letter glued to Latin ones is a misread accent.
    return score


def _cjk_score(ch: str, codec: str) -> float:
    """+2 for a character from its codec's frequently used block (two bytes of text), else little."""
    if "\u3040" <= ch <= "\u30ff":
        return 2.0 if codec in ("cp932", "euc-jp") else 0.5
    if "\u3000" <= ch <= "\u303f" or "\uff01" <= ch <= "\uff5e":
        return 1.0  # CJK punctuation and full-width forms.
    if "\uac00" <= ch <= "\ud7a3":
        return 2.0 if codec == "cp949" and _in_common_block(ch, codec) else 0.0
    if "\u4e00" <= ch <= "\u9fff":
        return 2.0 if _in_common_block(ch, codec) else 0.3
    return -1.0  # Extension blocks, compatibility ideographs, radicals: rare in mail.


def _in_common_block(ch: str, codec: str) -> bool:
    block = _COMMON_LEAD.get(codec)
    if block is None:
        return False
    name, low, high = block
    try:
        encoded = ch.encode(name)
    except UnicodeEncodeError:
        return False
    return len(encoded) >= 2 and low <= encoded[-2] <= high


def _is_ideograph(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _is_latin(ch: str) -> bool:
    return ch.isalpha() and (ch < "\u0250" or "\u1e00" <= ch <= "\u1eff")
