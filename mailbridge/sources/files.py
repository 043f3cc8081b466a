"""Stream raw messages out of .eml files, mbox files and Maildir folders, one at a time.

Nothing here holds more than one message in memory: an mbox is read line by line and each
message is handed on as soon as its last line is read, so a 10,000-message mbox costs what its
largest message costs. Which kind a path is decides itself:

- a directory with `cur/` or `new/` is a Maildir (`new/` then `cur/`, names sorted);
- any other directory: its `*.eml` files, sorted (not recursive);
- a file whose first line is an mbox `From ` line is an mbox (mboxrd: `>From ` unescaped);
- any other file is one message.

"Received" for an imported message is the date of its newest (topmost) `Received:` header, the
one our own mail server wrote; without a readable one, the file's modification time. The
sender's `Date:` is never used: senders' clocks lie (see SLA.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from pathlib import Path

from mailbridge.parse.outlook_msg import HOW_TO_CONVERT, is_outlook_msg

# mboxrd escapes every body line matching ^>*From with one more '>'; reading undoes that.
_ESCAPED_FROM = re.compile(rb"^>+From ")


class SourceError(Exception):
    """A path that cannot be read as mail (missing, unreadable, not a known kind)."""


@dataclass(frozen=True, slots=True)
class FileMessage:
    """One message read from a file: its exact bytes, where it came from, when it was received."""

    raw: bytes = field(repr=False)
    source: str
    received_at: datetime


def iter_paths(paths: Iterable[Path | str]) -> Iterator[FileMessage]:
    """Every message under the given paths, in order, streamed."""
    for path in paths:
        yield from iter_path(Path(path))


def iter_path(path: Path) -> Iterator[FileMessage]:
    """Every message in one path, whichever kind it is (see the module docstring)."""
    path = path.absolute()
    if path.is_dir():
        yield from _iter_directory(path)
    elif path.is_file():
        yield from _iter_file(path)
    else:
        raise SourceError(f"{path}: no such file or directory")


def count_messages(paths: Iterable[Path | str]) -> int:
    """How many messages the paths hold, by a quick scan (for a progress bar's total)."""
    total = 0
    for path in map(Path, paths):
        path = path.absolute()
        if path.is_dir():
            total += sum(1 for _ in _directory_files(path))
        elif path.is_file():
            total += _count_file(path)
    return total


def is_maildir(path: Path) -> bool:
    """A Maildir has `cur/` or `new/` (`tmp/` holds deliveries still being written)."""
    return (path / "cur").is_dir() or (path / "new").is_dir()


def _directory_files(path: Path) -> Iterator[Path]:
    if is_maildir(path):
        for sub in ("new", "cur"):
            folder = path / sub
            if folder.is_dir():
                yield from sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    else:
        yield from sorted(p for p in path.glob("*.eml") if p.is_file())


def _iter_directory(path: Path) -> Iterator[FileMessage]:
    for file in _directory_files(path):
        yield _single(file)


def _iter_file(path: Path) -> Iterator[FileMessage]:
    if _looks_like_mbox(path):
        yield from iter_mbox(path)
    else:
        yield _single(path)


def _looks_like_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from exc


def _count_file(path: Path) -> int:
    if not _looks_like_mbox(path):
        return 1
    return sum(1 for _ in _mbox_raw_messages(path))


def _single(path: Path) -> FileMessage:
    try:
        raw = path.read_bytes()
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from exc
    if is_outlook_msg(raw):
        # Refused here, before intake: stored, it could only ever go to quarantine.
        raise SourceError(f"{path}: {HOW_TO_CONVERT}")
    return FileMessage(raw=raw, source=f"file:{path}", received_at=received_at(raw, mtime))


def iter_mbox(path: Path) -> Iterator[FileMessage]:
    """The messages of one mbox file, numbered from 1 in `source` (`file:PATH#3`)."""
    mtime = path.stat().st_mtime
    for number, raw in enumerate(_mbox_raw_messages(path), start=1):
        yield FileMessage(raw=raw, source=f"file:{path}#{number}", received_at=received_at(raw, mtime))


def _mbox_raw_messages(path: Path) -> Iterator[bytes]:
    """Split an mbox on `From ` lines that start the file or follow a blank line.

    Requiring the blank line keeps an unescaped `From ` inside a body (mboxo writers that did
    not escape it) from cutting a message in two.
    """
    lines: list[bytes] | None = None
    previous_blank = True
    try:
        with path.open("rb") as handle:
            for line in handle:
                if previous_blank and line.startswith(b"From "):
                    if lines is not None:
                        yield _finish(lines)
                    lines = []
                elif lines is not None:
                    lines.append(_unescape(line))
                previous_blank = line in (b"\n", b"\r\n")
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from exc
    if lines is not None:
        yield _finish(lines)


def _unescape(line: bytes) -> bytes:
    return line[1:] if _ESCAPED_FROM.match(line) else line


def _finish(lines: list[bytes]) -> bytes:
    # The blank line before the next `From ` belongs to the mbox format, not to the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines.pop()
    return b"".join(lines)


def received_at(raw: bytes, mtime: float) -> datetime:
    """The topmost `Received:` header's date (UTC), else the file's modification time."""
    for value in _received_headers(raw):
        when = _received_date(value)
        if when is not None:
            return when
    return datetime.fromtimestamp(mtime, tz=UTC)


def _received_headers(raw: bytes) -> list[str]:
    # Only the header block is parsed; compat32 leaves odd bytes alone instead of raising.
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return [str(value) for value in headers.get_all("Received") or []]


def _received_date(value: str) -> datetime | None:
    """The date after the last `;` of a Received header (RFC 5321 §4.4), as aware UTC."""
    _, sep, date_text = value.rpartition(";")
    if not sep:
        return None
    try:
        when = parsedate_to_datetime(" ".join(date_text.split()))
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 5322 "-0000" means "UTC, local zone unknown"; parsedate returns it naive.
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
