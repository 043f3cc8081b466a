"""Decode ISO-2022-JP as Windows writes it (CP50220): with NEC and IBM extension characters.

Outlook and Windows mail encode characters such as "№", "①" and "㈱" in ISO-2022-JP using the
NEC row 13 and IBM extensions, which Python's strict iso2022_jp codecs refuse. The JIS X 0208
code points are mapped to Shift_JIS, whose Windows code page (cp932) has those extensions.
"""

from __future__ import annotations

from mailbridge.parse.lazy_re import lazy_compile

_ESCAPE = lazy_compile(rb"\x1b(\$[@B]|\$\(D|\([BJHI])")
_DOUBLE_BYTE = {b"$@", b"$B", b"$(D"}


def decode_cp50220(data: bytes) -> str:
    """ISO-2022-JP bytes as text; a sequence that is not JIS at all becomes U+FFFD."""
    out: list[str] = []
    mode = b"(B"
    position = 0
    for match in _ESCAPE.finditer(data):
        out.append(_decode_run(data[position:match.start()], mode))
        mode = match.group(1)
        position = match.end()
    out.append(_decode_run(data[position:], mode))
    return "".join(out)


def _decode_run(run: bytes, mode: bytes) -> str:
    if mode in _DOUBLE_BYTE:
        return _jis_to_sjis(run).decode("cp932", "replace")
    if mode == b"(I":
        # JIS X 0201 katakana: 0x21-0x5F are the half-width katakana at 0xA1-0xDF in cp932.
        return bytes(b + 0x80 if 0x21 <= b <= 0x5F else b for b in run).decode("cp932", "replace")
    return run.decode("latin-1")


def _jis_to_sjis(run: bytes) -> bytes:
    out = bytearray()
    for index in range(0, len(run) - 1, 2):
        j1, j2 = run[index], run[index + 1]
        if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
            out += b"?"
            continue
        s1 = ((j1 + 1) >> 1) + (0x70 if j1 <= 0x5E else 0xB0)
        if j1 & 1:
            s2 = j2 + (0x1F if j2 <= 0x5F else 0x20)
        else:
            s2 = j2 + 0x7E
        out += bytes((s1, s2))
    return bytes(out)
