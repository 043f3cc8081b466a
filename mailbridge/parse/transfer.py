"""Decode a MIME part's Content-Transfer-Encoding leniently: the bytes a leaf part carries.

The stdlib gives up quietly on some damage real mail has (a base64 body of 4n+1 characters is
returned still encoded, a `quoted-printable ` with trailing blanks is not decoded at all); here
each case is decoded as far as it goes and recorded as a defect.
"""

from __future__ import annotations

import binascii
from email.generator import BytesGenerator
from email.message import Message
from io import BytesIO

from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.raw_spans import RawSpans


def payload_bytes(part: Message, defects: list[str], spans: RawSpans | None = None) -> bytes:
    """The decoded bytes of one leaf part (a nested message: its bytes as sent).

    `spans` locates a nested message's body in the raw bytes; without it, or where the raw
    split does not match the parsed tree, the message is written back from the tree.
    """
    if part.is_multipart():
        as_sent = spans.body_of(part) if spans is not None else None
        if as_sent is None:
            return _serialised_payload(part, defects)
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        return _decode_cte(as_sent, cte, defects) if cte in ("base64", "quoted-printable") else as_sent
    declared = str(part.get("Content-Transfer-Encoding", ""))
    cte = declared.strip().lower()
    if cte == "base64":
        return decode_base64(str(part.get_payload()).encode("ascii", "ignore"), defects)
    if cte != declared.lower() and cte == "quoted-printable":
        # The stdlib compares the raw value, so "quoted-printable " (trailing blanks) would go
        # undecoded; for a value it does not know it returns the bytes as sent, decoded here.
        return _decode_cte(part.get_payload(decode=True) or b"", cte, defects)
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, UnicodeError) as error:
        defects.append(f"mime: undecodable payload ({type(error).__name__}), kept as sent")
        data = str(part.get_payload()).encode("ascii", "surrogateescape")
    return data or b""


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_BASE64_ALPHABET)))
_WHITESPACE = b" \t\r\n\f\v"
_PADDING = lazy_compile(rb"=+")


def decode_base64(data: bytes, defects: list[str]) -> bytes:
    """Lenient base64: text appended after the data left out, junk skipped, chunks glued after
    padding decoded, a dangling character dropped. The stdlib returns the encoded text
    unchanged when the length is 4n+1."""
    data = _without_appended_text(data, defects)
    first_pad = data.find(b"=")
    if first_pad == -1 or not data[first_pad:].strip(b"=\r\n \t"):
        # The common case, well-formed: binascii skips line breaks itself, at C speed.
        try:
            return binascii.a2b_base64(data)
        except binascii.Error:
            pass
    clean = data.translate(None, _NOT_BASE64)
    if len(clean) != len(data.translate(None, _WHITESPACE)):
        defects.append("mime: characters outside base64 skipped")
    out = bytearray()
    for chunk in _PADDING.split(clean):
        if len(chunk) % 4 == 1:
            defects.append("mime: base64 of impossible length, last character dropped")
            chunk = chunk[:-1]
        out += binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4))
    return bytes(out)


# A run of base64 closed by padding, then a blank and more: "ecO2dMOk== ignored".
_PADDED_PREFIX = lazy_compile(rb"[ \t]*([A-Za-z0-9+/]+=+)[ \t]")


def _without_appended_text(data: bytes, defects: list[str]) -> bytes:
    """The data without the lines of plain text that follow the last base64 line.

    List servers append their footer to the end of a body as sent, base64 or not, and a mangled
    closing boundary leaves its line there too; decoding those letters as base64 would append
    garbage bytes to a file. Only the trailing lines are looked at (from the end backwards), so
    the cost is that of the appended text, and stray characters inside the data are left to the
    lenient decoder as before.
    """
    end = len(data)
    while end and data[end - 1] in _WHITESPACE:
        end -= 1  # Not data.rstrip(): that would copy a whole attachment to find its last line.
    cut = end
    while cut > 0:
        start = data.rfind(b"\n", 0, cut) + 1
        line = data[start:cut].strip()
        if line and not line.translate(None, _BASE64_ALPHABET):
            break  # A base64 line: the data ends here.
        cut = start - 1 if start else 0
    if cut == end:
        return data
    tail_start = data.find(b"\n", cut) + 1 if cut else 0
    kept = data[:tail_start] if cut else b""
    # The first appended line may still begin with the data's last, padded quantum.
    if match := _PADDED_PREFIX.match(data, tail_start):
        kept += match.group(1)
    if not kept.strip():
        return data  # Nothing but junk: leave it to the lenient decoder.
    defects.append("mime: text after the base64 data left out")
    return kept


def _serialised_payload(part: Message, defects: list[str]) -> bytes:
    chunks = [_flattened(inner, defects) for inner in part.get_payload()]
    data = b"\n".join(chunks)
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte in ("base64", "quoted-printable"):
        # The parser read the encoded text as a headerless message; decode what it held.
        data = _decode_cte(data.lstrip(b"\r\n"), cte, defects)
    return data


def _flattened(inner: Message, defects: list[str]) -> bytes:
    """A nested message as bytes; the stdlib generator refuses some broken headers (a bare LF in
    a value), and then the headers and body are written out as they were read."""
    buffer = BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0).flatten(inner)
        return buffer.getvalue()
    except Exception as error:  # noqa: BLE001 - HeaderParseError, UnicodeError…: never lose the part
        defects.append(f"mime: a nested message could not be written out as is ({type(error).__name__})")
    payload = inner.get_payload()
    body = "".join(str(p) for p in payload) if isinstance(payload, list) else str(payload or "")
    head = "".join(f"{name}: {value}\n" for name, value in inner._headers)
    return (head + "\n" + body).encode("utf-8", "surrogateescape")


def _decode_cte(data: bytes, cte: str, defects: list[str]) -> bytes:
    if cte == "base64":
        return decode_base64(data, defects)
    helper = Message()
    helper["Content-Transfer-Encoding"] = cte
    helper.set_payload(data.decode("ascii", "surrogateescape"))
    decoded = helper.get_payload(decode=True)
    defects.extend(f"mime: {type(d).__name__}" for d in helper.defects)
    return decoded or b""
