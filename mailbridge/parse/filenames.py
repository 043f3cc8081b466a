"""Attachment file names made safe to create on disk; the name reported in the message stays as sent."""

from __future__ import annotations

import unicodedata

from mailbridge.parse.lazy_re import lazy_compile

_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                       *(f"lpt{i}" for i in range(10))})
_UNSAFE_CHARS = lazy_compile(r'[<>:"|?*\\/]')
MAX_FILENAME_BYTES = 200


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name that is safe to create in a directory, for stages that write attachments.

    No directory parts, no control or bidi characters, no hidden or reserved (CON, NUL…) names,
    bounded length; `fallback` when nothing usable is left.
    """
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = _UNSAFE_CHARS.sub("_", name).strip(" .")
    if not name:
        return fallback
    if name.split(".", 1)[0].lower() in _RESERVED:
        name = "_" + name
    return _truncate(name)


def _truncate(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        stem, extension = name, ""
    budget = MAX_FILENAME_BYTES - len(extension.encode("utf-8")) - len(dot)
    shortened = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return shortened + (dot + extension if extension else "")
