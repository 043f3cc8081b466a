"""An online copy of the SQLite database with SQLite's backup API: consistent while `serve` writes.

The copy is made page by page in steps, so writers wait only for one step at a time; a write
during the copy makes SQLite restart it, which the step size keeps cheap. The copy goes to a
temporary file beside the target, is checked (`PRAGMA quick_check`), synced and renamed, so a
target that exists is always a whole, readable database.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from mailbridge.errors import StoreError

# Pages per step (4 KiB each: 4 MiB), and the pause between steps that lets writers in.
PAGES_PER_STEP = 1024
PAUSE_SECONDS = 0.005


@dataclass(frozen=True)
class BackupResult:
    source: Path
    target: Path
    size: int
    check: str


def backup_sqlite(source: Path, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the database `source` to `target`; StoreError with one line when it cannot be done."""
    if not source.is_file():
        raise StoreError(f"no SQLite database at {source}")
    if target.exists() and not overwrite:
        raise StoreError(f"{target} exists: choose another name, or pass --force to replace it")
    temporary = target.with_name(f".{target.name}.partial")
    try:
        _copy(source, temporary)
        check = _quick_check(temporary)
        if check != "ok":
            raise StoreError(f"the copy failed its check ({check}); {source} may be damaged: nothing written")
        _sync(temporary)
        os.replace(temporary, target)
        _sync(target.parent)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot back up {source}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return BackupResult(source, target, target.stat().st_size, check)


def _copy(source: Path, target: Path) -> None:
    # The source is opened read-only: a backup never changes what it copies.
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=PAGES_PER_STEP, sleep=PAUSE_SECONDS)
    # sqlite3's context manager commits but does not close.
    src.close()
    dst.close()


def _quick_check(path: Path) -> str:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        connection.close()


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
