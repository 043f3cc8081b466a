"""Decode header values: RFC 2047 words, raw 8-bit bytes, addresses, message ids, dates, parameters.

The message is parsed with the stdlib's compat32 policy, which keeps header values as sent: folded,
with RFC 2047 words still encoded and raw 8-bit bytes as surrogateescape characters. Everything
here turns such a value into text, and returns a defect string for every guess it has to make.
"""

from __future__ import annotations

from collections.abc import Iterable

import binascii
import email.utils
import re
from datetime import datetime, timezone
from email.message import Message
from email.policy import Compat32

from mailbridge.parse.address_entries import angle_entries
from mailbridge.parse.charset import decode_text
from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.model import Address



class RawCompat32(Compat32):
    """compat32, except that header values with raw 8-bit bytes stay str (with surrogates).

    Plain compat32 wraps such values in `email.header.Header` objects, on which `get_param()`
    and every string operation fail; the surrogates keep the bytes for our own decoding.
    """

    def header_fetch_parse(self, name, value):
        return value


RAW_POLICY = RawCompat32()

# An RFC 2047 encoded word. Encoded text may not hold "?" or whitespace by the RFC; broken
# senders put spaces in it, so only "?" ends it, and the word may not span a line.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\r\n]*)\?=")
_BRACKETED_ID = lazy_compile(r"<([^<>]*)>")
# A decoded value is one line: an encoded word may carry CR, LF or NUL, which must not reach a
# template's subject line, a header we write or a database text column.
_CONTROLS = lazy_compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]+")


def unfold(value: str) -> str:
    """Remove the line breaks of folding (RFC 5322 2.2.3) and any stray trailing newline."""
    if "\n" not in value and "\r" not in value:
        return value  # Most values are one line: nothing to remove.
    # Folding's line breaks and stray ones alike go: every CR and LF, without a pattern.
    return value.replace("\r", "").replace("\n", "")


def decode_header(value: str | None, defects: list[str], name: str = "header",
                  hints: Iterable[str] = ()) -> str:
    """A header value as text: unfolded, 8-bit bytes recovered, RFC 2047 words decoded.

    `hints` are the charsets the message declares elsewhere (its parts, its encoded words): the
    best clue to raw 8-bit bytes and to words whose own label is unknown or wrong.
    """
    if not value:
        return ""
    text = str(value)
    if text.isascii() and text.isprintable() and "=?" not in text:
        # Most values: no line break to unfold, no control to blank out, nothing to decode.
        return text.strip()
    text = unfold(text)
    if not text.isascii():
        text = _decode_raw_8bit(text, defects, name, hints)
    if "=?" in text:
        text = _decode_encoded_words(text, defects, name, hints)
    # Every character _CONTROLS matches is unprintable, so a printable value has none.
    return (text if text.isprintable() else _CONTROLS.sub(" ", text)).strip()


def _decode_raw_8bit(text: str, defects: list[str], name: str, hints: Iterable[str] = ()) -> str:
    try:
        data = text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        # Already real text (a header built in Python, not read from bytes).
        return text
    decoded, defect = decode_text(data, "utf-8", hints)
    defects.append(f"{name}: raw 8-bit bytes in header" + (f"; {defect}" if defect else ", decoded as utf-8"))
    return decoded


def _decode_encoded_words(text: str, defects: list[str], name: str, hints: Iterable[str] = ()) -> str:
    """Decode every encoded word; adjacent words of one charset are joined before decoding."""
    out: list[str] = []
    pending = bytearray()
    charset = ""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position:match.start()]
        # Whitespace between two encoded words is not part of the text (RFC 2047 section 6.2).
        adjacent = bool(pending) and not between.strip()
        if not adjacent:
            _flush(out, pending, charset, defects, name, hints)
            out.append(between)
        elif match.group(1).lower() != charset.lower():
            _flush(out, pending, charset, defects, name, hints)
        charset = match.group(1)
        pending.extend(_word_bytes(match.group(2), match.group(3), defects, name))
        position = match.end()
    _flush(out, pending, charset, defects, name, hints)
    out.append(text[position:])
    return "".join(out)


def _flush(out: list[str], pending: bytearray, charset: str, defects: list[str], name: str,
           hints: Iterable[str] = ()) -> None:
    # Words are joined as bytes first because senders split multi-byte characters across words.
    if pending:
        decoded, defect = decode_text(bytes(pending), charset, hints)
        if defect:
            defects.append(f"{name}: {defect}")
        out.append(decoded)
        pending.clear()


def _word_bytes(encoding: str, payload: str, defects: list[str], name: str) -> bytes:
    if encoding in "Qq":
        return _q_decode(payload)
    data = payload.strip().encode("ascii", "ignore")
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        defects.append(f"{name}: broken base64 in an encoded word, kept as sent")
        return payload.encode("ascii", "replace")


_Q_ESCAPE = lazy_compile(rb"=([0-9A-Fa-f]{2})")


def _q_decode(payload: str) -> bytes:
    data = payload.encode("utf-8", "surrogateescape")
    if b"==" not in data and not data.endswith(b"=") and b"\r" not in data and b"\n" not in data:
        # binascii's decoder gives the same bytes, without a Python call per escape, except
        # where it reads "==", a final "=" or a line break after "=" its own way.
        return binascii.a2b_qp(data, header=True)
    return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data.replace(b"_", b" "))


def decode_all(msg: Message, defects: list[str], hints: Iterable[str] = ()) -> tuple[tuple[str, str], ...]:
    """Every header of `msg` as (name, decoded value), in order."""
    return tuple((key, decode_header(value, defects, key.lower(), hints)) for key, value in msg.items())



# --- addresses --------------------------------------------------------------------------------

def parse_addresses(value: str | None, defects: list[str], name: str = "address",
                    hints: Iterable[str] = ()) -> tuple[Address, ...]:
    """Decode an address-list header into Address objects (empty entries and groups dropped)."""
    if not value:
        return ()
    text = unfold(str(value))
    if not text.isascii():
        text = _decode_raw_8bit(text, defects, name, hints)
    # Encoded words are swapped for placeholders first, so that a comma inside a (broken)
    # encoded display name cannot split one address in two.
    words: list[str] = []
    protected = _ENCODED_WORD.sub(lambda m: _placeholder(m, words), text)
    result = []
    for display, address in angle_entries(protected) or _getaddresses(protected):
        address = address.strip()
        display = _restore(display, words)
        if not address and not display:
            continue
        if not display and "@" not in address and "<" not in protected:
            # A bare word ("From: Whomever") is a name without an address, not a local part.
            display, address = address, ""
        result.append(Address(name=decode_header(display, defects, name, hints), address=address))
    return tuple(result)


def _placeholder(match: re.Match, words: list[str]) -> str:
    words.append(match.group(0))
    return f"mbEW{len(words) - 1}x"


_PLACEHOLDER = lazy_compile(r"mbEW(\d+)x")


def _restore(display: str, words: list[str]) -> str:
    if "mbEW" not in display:
        return display
    # getaddresses() separates atoms with one space; decoding drops it between encoded words.
    return _PLACEHOLDER.sub(lambda m: words[int(m.group(1))], display)


# A lone dot-atom address, the To: of most mail to a support address: the stdlib's parser
# returns it unchanged with no name, after a walk of it character by character.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_BARE_ADDRESS = re.compile(rf"[ \t]*({DOT_ATOM}@{DOT_ATOM})[ \t]*")


def _getaddresses(text: str) -> list[tuple[str, str]]:
    if (bare := _BARE_ADDRESS.fullmatch(text)) is not None:
        return [("", bare.group(1))]
    try:
        return _stdlib_getaddresses(text)
    except RecursionError:
        # Each ":" opens a group, and the stdlib's parser recurses once per group: thousands of
        # them (a hostile or mangled header) exceed the recursion limit. Read it without groups.
        try:
            return _stdlib_getaddresses(text.replace(":", " "))
        except RecursionError:
            return []


def _stdlib_getaddresses(text: str) -> list[tuple[str, str]]:
    # Python 3.11.10+ added a strict mode that turns any oddity into [("", "")]: real mail is odd.
    try:
        return email.utils.getaddresses([text], strict=False)
    except TypeError:
        return email.utils.getaddresses([text])


def first_address(value: str | list[str] | None, defects: list[str], name: str = "from",
                  hints: Iterable[str] = ()) -> Address | None:
    """The first mailbox of an address header (or of several, such as duplicate From headers)
    that has an address; else the first entry (a name alone), or None."""
    values = value if isinstance(value, list) else [value]
    addresses = [a for v in values for a in parse_addresses(v, defects, name, hints)]
    return next((a for a in addresses if "@" in a.address), addresses[0] if addresses else None)


# --- message ids ------------------------------------------------------------------------------

def parse_message_id(value: str | None) -> str | None:
    """The Message-ID without angle brackets; None if absent or empty."""
    ids = parse_id_list(value)
    return ids[0] if ids else None


def parse_id_list(value: str | None) -> tuple[str, ...]:
    """Every message id of an In-Reply-To / References value, without brackets, deduplicated."""
    if not value:
        return ()
    text = unfold(str(value))
    # Joining the split is removing every run of whitespace (str.split and \s agree on what
    # whitespace is) without the pattern.
    found = ["".join(m.split()) for m in _BRACKETED_ID.findall(text)]
    if found and ("<" in (rest := _BRACKETED_ID.sub(" ", text)) or ">" in rest):
        # An id with an unbalanced bracket beside well-formed ones ("<a@x> <b@x"): the typo
        # must not lose it; prose around ids has no brackets.
        found += [t.strip(",;<>") for t in rest.split() if "@" in t and (t[0] == "<" or t[-1] == ">")]
    if not found:
        # Ids without brackets: keep tokens that look like ids, not the prose around them.
        # An unbalanced bracket ("<id@x" or "id@x>") is the sender's typo, not part of the id.
        tokens = [t.strip(",;<>") for t in text.split()]
        found = [t for t in tokens if "@" in t] or tokens[:1]
    seen: dict[str, None] = {}
    for item in found:
        if item and item not in seen and item.isascii():
            seen[item] = None
    return tuple(seen)


# --- dates ------------------------------------------------------------------------------------

def parse_date(value: str | None, defects: list[str]) -> datetime | None:
    """The Date header as an aware datetime; None (with a defect) when it cannot be read."""
    if not value or not str(value).strip():
        return None
    text = unfold(str(value)).strip()
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"date: unparseable {text[:80]!r}")
        return None
    if parsed.tzinfo is None:
        # "-0000" means "UTC, local zone unknown" (RFC 5322 3.3).
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


# --- MIME parameters --------------------------------------------------------------------------

def get_param(part: Message, name: str, header: str, defects: list[str]) -> str | None:
    """A MIME parameter decoded: RFC 2231 (with continuations), RFC 2047 inside quotes, 8-bit."""
    try:
        raw = part.get_param(name, header=header)
    except (ValueError, IndexError, TypeError, AttributeError):
        defects.append(f"{header}: unreadable {name} parameter")
        return None
    if raw is None:
        return None
    if isinstance(raw, tuple):
        text = _rfc2231_value(raw, defects, header)
    else:
        text = str(raw)
    return decode_header(text, defects, f"{header} {name}") or None


def _rfc2231_value(raw: tuple, defects: list[str], header: str) -> str:
    charset, _language, value = raw
    # The stdlib has already percent-decoded the value into latin-1 code points, one per byte.
    data = value.encode("latin-1", "surrogateescape")
    text, defect = decode_text(data, charset or "utf-8")
    if defect:
        defects.append(f"{header}: {defect}")
    return text
