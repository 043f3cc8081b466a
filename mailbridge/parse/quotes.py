"""Cut a decoded plain-text reply down to its new content (`reply_part`).

The rules, decided from the corpus expectations (github/zapier email_reply_parser, discourse
email_reply_trimmer; see tests/test_corpus_replies.py) and from what a support agent needs:

- History starts at an attribution ("On … wrote:", "Dnia … napisał(a):", "El … escribió:",
  "Am … schrieb …:", also wrapped over up to five lines), at an Outlook-style header block
  ("From:/Sent:/To:/Subject:" in any of our languages, bold or not, with the rule line above it),
  or at an "-----Original Message-----" / forwarded-message marker. When the sender wrote
  something above it, everything from there on is cut.
- Interleaved replies are kept: when an attribution is followed by a quoted block and then by
  the sender's own text, only the attribution line goes; the quoted lines between answers stay,
  because an inline answer ("Yes." under a question) means nothing without them.
- A mail that *starts* with history is a forward or a bottom-post: the header lines go and the
  rest is read as the message. If the header is an attribution followed by one quoted block and
  then only the sender's text, that quoted block goes too (a bottom-posted answer).
- Trailing quoted blocks below the sender's text go; a quote with nothing but quotes around it
  stays (it is all there is).
- Signatures: only trailing blocks below a delimiter ("-- " per RFC 3676, at most 12 lines) or
  below a rule line after a blank line (a list footer, at most 6 lines), and phone/app lines
  ("Sent from my iPhone", "Wysłane z iPhone'a", "Enviado desde mi iPhone", "Get Outlook for
  Android") at the very end. An undelimited signature (name, phone) is kept for the agent; the
  full body stays in `ParsedMessage.text` in any case.
- If stripping would leave nothing, the whole normalised text is returned.

Output: CRLF/CR become LF, each line loses trailing whitespace, leading and trailing blank lines
go. Everything is one pass or a bounded look-around per line, so a 1 MB body of quotes stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailbridge.parse import quote_markers as mk
from mailbridge.parse.lazy_re import lazy_compile

BLANK, QUOTE, TEXT, CODE = "b", "q", "t", "c"
_MAX_ATTRIBUTION_LINES = 5
_MAX_HEADER_RUN = 20
_SIGNATURE_LINES = 12
_DASHES = frozenset({"—", "–", "―"})
_FOOTER_LINES = 6
_SEPARATOR_FIRST = mk.SEPARATOR_CHARS | mk.SEPARATOR_SINGLE_CHARS
_SUPERCITE_RE = re.compile(r"[A-Za-z]{1,3}>(?:\s|$)")
_GMAIL_DATE_RE = re.compile(
    r"\d{4}[-/]\d{1,2}[-/]\d{1,2}(?: \d{1,2}:\d{2} gmt[+-]\d{1,2}:?\d{2})?\s"
)
_DIGIT_RE = lazy_compile(r"\d")
_DATE_WORDS = frozenset({"am", "on", "le", "el", "em", "den", "op", "il", "w", "dnia"})
# Windows Mail puts left-to-right marks between the fields of its header block; invisible, and
# in the way of every pattern.
_BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Non-breaking spaces French puts before a colon ("De\u00a0:").
_KEY_STRIP = " \t*\u00a0\u202f"


@dataclass(frozen=True, slots=True)
class _Header:
    """Where quoted history begins: lines [start, end) are its header."""

    start: int
    end: int
    attribution: bool


def reply_part(text: str) -> str:
    """The new content of a reply body: quoted history, attributions and signatures removed."""
    text = _BIDI_MARKS.sub("", text) if _BIDI_MARKS.search(text) else text
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    above = _above_reply_marker(lines)
    above_kinds = _kinds(above)
    tail, history_cut = _trim_tail(above, above_kinds)
    tail_kinds = _prefix_kinds(tail, above, above_kinds)
    cut = _cut_history(tail, tail_kinds)
    kept, _ = _trim_tail(cut, _prefix_kinds(cut, tail, tail_kinds),
                         keep_signature=history_cut or len(cut) < len(tail))
    return _join(kept) or _join(lines)


def _above_reply_marker(lines: list[str]) -> list[str]:
    """The lines above a "reply above this line" marker (ours or a help desk's), if there is one."""
    # A marker lies within a line, and folding case maps character by character: a text with
    # no marker phrase anywhere (nearly all) has none in any line, found by one search in C.
    if mk.REPLY_ABOVE_RE.search("\n".join(lines).casefold()) is None:
        return lines
    for index, line in enumerate(lines):
        if len(line) <= 200 and mk.REPLY_ABOVE_RE.search(folded := line.casefold()) \
                and mk.REPLY_VERB_RE.search(folded):
            return lines[:index]
    return lines


def _join(lines: list[str]) -> str:
    first = next((i for i, line in enumerate(lines) if line), len(lines))
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i]), -1)
    return "\n".join(lines[first : last + 1])


# --- line kinds ------------------------------------------------------------------------------


def _kinds(lines: list[str]) -> list[str]:
    """One kind per line: blank, quoted, own text, or inside a ``` code fence."""
    fences = [i for i, line in enumerate(lines) if line.lstrip().startswith("```")]
    # An unclosed fence is not a fence: it must not shield the history below it.
    fenced = {i for a, b in zip(fences[::2], fences[1::2]) for i in range(a, b + 1)}
    kinds: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if i in fenced:
            kinds.append(CODE)
        elif not stripped:
            kinds.append(BLANK)
        elif _is_quote(stripped) and not _is_wrapped_tail(stripped, kinds):
            kinds.append(QUOTE)
        else:
            kinds.append(TEXT)
    return kinds


def _prefix_kinds(lines: list[str], longer: list[str], kinds: list[str]) -> list[str]:
    """`_kinds(lines)`, read off the kinds of `longer` when `lines` is its beginning.

    Each pass of `reply_part` works on what the one before kept, nearly always the beginning
    of its lines, and classifying every line again was a third of its cost. A line's kind
    depends only on the lines above it, except for a fence: one whose closing fence is cut
    off is no fence, so where the cut falls between two code lines they are classified again.
    """
    n = len(lines)
    if n < len(longer) and n and kinds[n - 1] == CODE == kinds[n]:
        return _kinds(lines)
    return kinds[:n] if lines == longer[:n] else _kinds(lines)


def _is_quote(stripped: str) -> bool:
    return stripped[0] == ">" or _SUPERCITE_RE.match(stripped) is not None


def _is_wrapped_tail(stripped: str, kinds: list[str]) -> bool:
    """A wrapped attribution's last piece ("<a@b.c\\n>:", "\\n> wrote:") only looks quoted."""
    tail = stripped[1:].strip()
    return bool(kinds) and kinds[-1] == TEXT and len(tail) <= 12 and tail.endswith(":")


def _skip(kinds: list[str], i: int, skipped: str) -> int:
    while i < len(kinds) and kinds[i] in skipped:
        i += 1
    return i


def _is_separator(line: str) -> bool:
    s = line.strip()
    if not s or s[0] not in _SEPARATOR_FIRST or s.strip(s[0]):
        # Not a rule character, or not one character repeated (no set of every line's characters).
        return False
    if s[0] in mk.SEPARATOR_SINGLE_CHARS:
        return True
    return s[0] in mk.SEPARATOR_CHARS and (len(s) >= 3 or s == "--")


def _is_mobile_signature(line: str) -> bool:
    """A phone or mail-app line ("Sent from my iPhone"); never a sentence that starts alike."""
    if len(line) > 300:
        return False
    unlinked = mk.MARKDOWN_LINK_RE.sub(r"\1", line) if "[" in line else line
    s = mk.LINK_RE.sub(" ", unlinked).strip().casefold()
    if not s or len(s) > 100 or len(s.split()) > 12 or not mk.MOBILE_SIGNATURE_RE.fullmatch(s):
        return False
    possessive = mk.POSSESSIVE_RE.search(s)
    if possessive is None:
        return True
    rest = possessive.group(1).split()
    return bool(rest) and (rest[0].startswith(mk.DEVICE_WORDS) or (len(rest) <= 4 and "," not in s))


# --- history headers -------------------------------------------------------------------------


def _find_header(lines: list[str], kinds: list[str], pos: int) -> _Header | None:
    """The first history header at or after line `pos`."""
    for j in range(pos, len(lines)):
        if kinds[j] != TEXT:
            continue
        found = _block_at(lines, j) or _gmail_attribution_at(lines, kinds, j)
        found = found or _attribution_ending_at(lines, kinds, j, pos) or _verbless_attribution_at(lines, j)
        if found is not None:
            return found
    return None


def _block_at(lines: list[str], j: int) -> _Header | None:
    """A forwarded/original-message marker, or an Outlook-style header block, at line j."""
    if _is_marker(lines[j]):
        start = j + 1
        while start < min(len(lines), j + 3) and not lines[start]:
            start += 1
        end, keys = _header_run(lines, start)
        return _Header(j, end if keys else j + 1, False)
    end, keys = _header_run(lines, j)
    if len(keys) < 3:
        return None  # Most lines: no "Key:" at all, so no key to look at.
    has_from = any(key in mk.FROM_KEYS for key in keys)
    has_date = any(key in mk.DATE_SUBJECT_KEYS for key in keys)
    if not has_from or not has_date:
        return None
    # Three short keys also make a plain list ("Od: 1 marca / Do: 5 marca / Temat: urlop"),
    # so a three-line block needs an address or the rule line that clients draw above it.
    addressed = any("@" in lines[i] for i in range(j, end))
    return _Header(j, end, False) if len(keys) >= 4 or addressed or _ruled(lines, j) else None


def _ruled(lines: list[str], j: int) -> bool:
    """Whether the nearest non-blank line within three lines above j is a rule line."""
    above = next((lines[i] for i in range(j - 1, max(-1, j - 4), -1) if lines[i]), "")
    return _is_separator(above)


def _is_marker(line: str) -> bool:
    return len(line) <= 100 and line.strip(mk.MARKER_DECORATION).casefold() in mk.HISTORY_MARKERS


def _header_key(line: str) -> str | None:
    colon = line.find(":", 0, 40)
    if colon < 0:
        colon = line.find("：", 0, 20)  # Chinese and Japanese clients write a full-width colon.
    # Clients write header blocks flush left; an indented "From:" is a listing (a DSN's report).
    if colon <= 0 or line[0].isspace():
        return None
    key = line[:colon].strip(_KEY_STRIP).casefold()
    return key if key in mk.HEADER_KEYS else None


def _header_run(lines: list[str], start: int) -> tuple[int, list[str]]:
    """End and keys of the run of "Key: value" lines at `start` (wrapped values included)."""
    keys: list[str] = []
    i = start
    while i < len(lines) and i - start < _MAX_HEADER_RUN:
        key = _header_key(lines[i])
        if key is not None:
            keys.append(key)
        elif not (keys and lines[i] and i + 1 < len(lines) and _header_key(lines[i + 1])):
            break
        i += 1
    return i, keys


def _gmail_attribution_at(lines: list[str], kinds: list[str], j: int) -> _Header | None:
    """Gmail's date-first attribution: "2016-03-03 17:21 GMT+01:00 Jane <jane@x.org>:"."""
    # The pattern opens with a digit, and no character folds to a digit or from one: a line
    # that does not start with one is not folded and matched.
    if not lines[j][:1].isdecimal():
        return None
    match = _GMAIL_DATE_RE.match(lines[j].casefold()) if len(lines[j]) <= 300 else None
    if match is None:
        return None
    end = j
    while end < min(j + 2, len(lines) - 1) and kinds[end + 1] == TEXT:
        if lines[end].endswith(":"):
            break
        end += 1
    if not lines[end].endswith(":"):
        end = j
    joined = " ".join(lines[j : end + 1]).rstrip(":")
    if "gmt" in match.group(0) or ("@" in joined and joined.endswith(">")):
        return _Header(j, end + 1, True)
    return None


def _verbless_attribution_at(lines: list[str], j: int) -> _Header | None:
    """A one-line attribution with a date, a time and an address but no verb (Russian Gmail,
    Yandex, mail.ru): "ср, 30 апр. 2025 г. в 15:19, Иван <ivan@x.ru>:"."""
    line = lines[j]
    if len(line) > 300 or not line.endswith((":", "：")) or "@" not in line:
        return None
    return _Header(j, j + 1, True) if mk.VERBLESS_ATTRIBUTION_RE.match(line) else None


def _attribution_ending_at(
    lines: list[str], kinds: list[str], j: int, floor: int
) -> _Header | None:
    """An "On … wrote:" attribution whose last line is j, started at most a few lines above."""
    line = lines[j]
    if len(line) > 400 or not line.endswith((":", "：", "----")) or _is_separator(line):
        return None
    # Cheap pre-check: no attribution verb anywhere in reach means no attribution.
    reach = " ".join(lines[max(floor, j - _MAX_ATTRIBUTION_LINES) : j + 1])
    if len(reach) > 2000 or not mk.VERB_RE.search(reach.casefold()):
        return None
    for i in _attribution_starts(lines, kinds, j, floor):
        if _is_attribution(" ".join(lines[i : j + 1]), opener=_opens(lines[i])):
            return _Header(i, j + 1, True)
    return None


def _attribution_starts(lines: list[str], kinds: list[str], j: int, floor: int) -> Iterator[int]:
    """Likely first lines for an attribution ending at j, best first."""
    above = [j]
    while len(above) < _MAX_ATTRIBUTION_LINES and above[-1] > floor:
        if kinds[above[-1] - 1] != TEXT:
            break
        above.append(above[-1] - 1)
    openers = [i for i in above if _opens(lines[i])]
    # Earlier verb lines share the last verb with the latest one, so one try covers them.
    verb_line = next((i for i in above if mk.VERB_RE.search(lines[i].casefold())), j)
    yield from dict.fromkeys([*openers[:2], verb_line, j])
    # A wrapped attribution may even hold blank lines ("On … Jane\n\n<\nmailto:…\n> wrote:"),
    # but then it must start with a dated opener and hold no sentence.
    for i in range(j - 1, max(floor, j - _MAX_ATTRIBUTION_LINES) - 1, -1):
        if kinds[i] not in (TEXT, BLANK) or lines[i].endswith((".", "!", "?")):
            return
        if _opens(lines[i]) and any(ch.isdigit() for ch in lines[i]):
            yield i
            return


def _opens(line: str) -> bool:
    return mk.OPENER_RE.match(line.lstrip(" -*").casefold()) is not None


def _is_attribution(joined: str, *, opener: bool) -> bool:
    """Whether a line (or wrapped lines joined) introduces quoted history."""
    text = joined.casefold().rstrip(" -:：")
    if len(text) > 400:
        return False
    verb = None
    for verb in mk.VERB_RE.finditer(text):
        pass
    if verb is None:
        return False
    before, rest = text[: verb.start()], text[verb.end() :]
    dated = _DIGIT_RE.search(text) is not None
    if len(rest.strip(" ()")) <= 3:
        return opener or dated or "@" in before
    if len(rest) > 120:
        return False
    # "… schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:" puts the date after the verb.
    dated_after = "@" in before and dated and rest.split()[0] in _DATE_WORDS
    return opener or "@" in rest or dated_after


# --- the two passes ----------------------------------------------------------------------------


def _cut_history(lines: list[str], kinds: list[str]) -> list[str]:
    """Remove history headers and what they introduce, keeping interleaved answers; `kinds`
    are those of `lines`."""
    last_quote = max((i for i, kind in enumerate(kinds) if kind == QUOTE), default=-1)
    out: list[str] = []
    pos, seen_text = 0, False
    while (header := _find_header(lines, kinds, pos)) is not None:
        chunk = range(pos, header.start)
        seen_text = seen_text or any(_is_own_text(lines[i], kinds[i]) for i in chunk)
        if not seen_text:
            out.extend(lines[i] for i in chunk if not _is_separator(lines[i]))
            pos = _after_top_header(kinds, header, last_quote)
        elif header.attribution and _answers_follow(kinds, header.end):
            out.extend(lines[i] for i in chunk)
            pos = header.end
        else:
            out.extend(lines[pos : _rule_above(lines, kinds, header.start, pos)])
            return out
    out.extend(lines[pos:])
    return out


def _is_own_text(line: str, kind: str) -> bool:
    return kind in (TEXT, CODE) and not _is_separator(line) and not _is_mobile_signature(line)


def _after_top_header(kinds: list[str], header: _Header, last_quote: int) -> int:
    """Where the message resumes after history that opens it (a forward or a bottom-post)."""
    if not header.attribution:
        return header.end
    first = _skip(kinds, header.end, BLANK)
    if first < len(kinds) and kinds[first] == QUOTE:
        after = _skip(kinds, first, QUOTE + BLANK)
        # One quoted block, then only the sender's own text: the quote is history.
        if after < len(kinds) and last_quote < after:
            return after
    return header.end


def _answers_follow(kinds: list[str], end: int) -> bool:
    """An attribution, a quoted block, then the sender's own text again: an inline reply."""
    first = _skip(kinds, end, BLANK)
    if first >= len(kinds) or kinds[first] != QUOTE:
        return False
    return _skip(kinds, first, QUOTE + BLANK) < len(kinds)


def _rule_above(lines: list[str], kinds: list[str], start: int, floor: int) -> int:
    """Include the rule line ("_____", "-----") that clients draw above a history header."""
    i = start - 1
    while i >= floor and i >= start - 3 and kinds[i] == BLANK:
        i -= 1
    return i if i >= floor and kinds[i] == TEXT and _is_separator(lines[i]) else start


def _trim_tail(lines: list[str], kinds: list[str], keep_signature: bool = False) -> tuple[list[str], bool]:
    """Drop trailing quotes, delimited signatures, list footers and phone signatures; say
    whether a quote was dropped. `kinds` are those of `lines`.

    A delimited signature just above quoted history belongs to the reply and is kept
    (`keep_signature`, or once a trailing quote went); one that ends the message goes.
    """
    end = len(lines)
    quote_cut = False
    while True:
        while end and kinds[end - 1] == BLANK:
            end -= 1
        cut = _trailing_quote(kinds, end)
        quote_cut = quote_cut or cut is not None
        if cut is None and not (keep_signature or quote_cut):
            cut = _trailing_signature(lines, kinds, end)
        if cut is None and end and kinds[end - 1] == TEXT and _is_mobile_signature(lines[end - 1]):
            cut = end - 1
        if cut is None:
            return lines[:end], quote_cut
        end = cut


def _trailing_quote(kinds: list[str], end: int) -> int | None:
    """Start of a quoted block ending the text, when the sender wrote something above it."""
    i = end
    while i and kinds[i - 1] in (QUOTE, BLANK):
        i -= 1
    return i if i and i < end else None


def _trailing_signature(lines: list[str], kinds: list[str], end: int) -> int | None:
    """The earliest delimiter or rule line that only a short signature or footer follows."""
    best, count = None, 0
    # Text between two rules is a boxed note the sender wrote, not a footer.
    boxed = end > 0 and _is_separator(lines[end - 1])
    for i in range(end - 1, -1, -1):
        if kinds[i] in (QUOTE, CODE) or count > _SIGNATURE_LINES:
            break
        if kinds[i] == BLANK:
            continue
        if not _is_separator(lines[i]) or lines[i].strip() in _DASHES:
            # An em or en dash above a name is how people sign, not a footer rule: kept.
            count += 1
        elif lines[i].strip() == "--":
            # A signature has one delimiter; several "--" lines close together are a listing.
            if best is not None and lines[best].strip() == "--":
                return None
            best = i
        elif count <= _FOOTER_LINES and not (boxed and count) and _after_break(lines, kinds, i):
            best = i
    return best


def _after_break(lines: list[str], kinds: list[str], i: int) -> bool:
    """A rule after a blank line (or another rule) ends the text; one under a title underlines it."""
    return i == 0 or kinds[i - 1] == BLANK or _is_separator(lines[i - 1])
