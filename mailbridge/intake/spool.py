"""The listener's durable queue on disk: each accepted message is a synced file before its 250, loaded into the database by the worker.

Answering 250 only after a database commit made every SMTP client wait for the database's one
write lock, which processing holds most of the time; a file of its own needs no lock. The
layout is a Maildir's: a message is written and synced in `tmp/`, renamed into `new/` and the
directory synced, so a file in `new/` is always whole, and whatever is in `tmp/` was never
answered 250 (the sender retries it). Each file is one header line of JSON (the envelope and
when the message was received) followed by the message's bytes, untouched.

The worker moves files into `raw_message` in batches (`intake.load_spool`): one transaction for
the batch, then the files are removed. A crash between the two leaves files whose rows exist;
loading them again finds the same bytes already stored (unique sha256) and only removes them.
A file that cannot be read as ours, or that the database refuses, is moved to `bad/` with the
reason logged, never deleted, so that it cannot hold back the files behind it.

A removed file is kept as an empty spare in `free/` (up to `SPARE_FILES` of them) and the
listener's next message is written into it (renamed to `tmp/`) instead of a new file. Creating a
file costs the listener more than the rest of a message together where ext4 runs without a
journal: it skips every inode freed in the last minute, one by one, and the spool frees one per
message. A spare is emptied as it is kept (and at start, after a crash in between): `free/` holds
no mail, and nothing in it is ever loaded.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"mailbridge-spool-1 "
# Empty spares kept in free/ for reuse: enough for a burst the worker is behind on.
SPARE_FILES = 1024
# After finding free/ empty, the listener creates new files for this long before it looks again.
SPARE_LOOK_SECONDS = 0.5
# One listing of new/ serves the loads for this long, or until they have used it up.
LISTING_SECONDS = 5.0


class SpoolFileError(ValueError):
    """A file in the spool that is not a message we wrote."""


@dataclass(frozen=True, slots=True)
class Spooled:
    """One message read back from the spool, with what the listener knew about it."""

    path: Path
    raw: bytes
    source: str
    envelope_from: str | None
    envelope_rcpts: tuple[str, ...]
    received_at: datetime


class Spool:
    """The `tmp/`, `new/`, `bad/` and `free/` folders under one directory (`<state_dir>/spool` by default)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.tmp, self.new, self.bad, self.free = (self.directory / name for name in ("tmp", "new", "bad", "free"))
        # The listener names two files per message: joined as text, not as Paths (a few microseconds each).
        self._tmp_text, self._new_text, self._free_text = str(self.tmp), str(self.new), str(self.free)
        self._names = itertools.count(1)
        self._spares: list[str] = []
        self._next_look = 0.0
        self._removing: threading.Thread | None = None
        self.new_synced = SharedSync(self.new)
        # The last listing of new/, oldest first (see `waiting`), and the names in it known to
        # have left new/ since (loaded or set aside).
        self._listed: deque[str] = deque()
        self._listed_until = 0.0
        self._gone: set[str] = set()

    def create(self) -> Spool:
        """Make the folders (mode 0700: mail is personal data); returns self."""
        for folder in (self.directory, self.tmp, self.new, self.bad, self.free):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self

    def put(self, raw: bytes, *, source: str, received_at: datetime, envelope_from: str | None = None,
            envelope_rcpts: tuple[str, ...] = ()) -> str:
        """Write the message durably; returns its name. Raises OSError (disk full, …) when it could not."""
        writer = self.open(source=source, received_at=received_at, envelope_from=envelope_from,
                           envelope_rcpts=envelope_rcpts)
        writer.write(raw)
        return writer.commit()

    def open(self, *, source: str, received_at: datetime, envelope_from: str | None = None,
             envelope_rcpts: tuple[str, ...] = ()) -> SpoolWriter:
        """A file in `tmp/` to write one message into as it arrives; `commit()` makes it durable."""
        name = f"{received_at.strftime('%Y%m%dT%H%M%S%f')}.{os.getpid()}.{next(self._names)}"
        header = json.dumps({"source": source, "envelope_from": envelope_from,
                             "envelope_rcpts": list(envelope_rcpts), "received_at": received_at.isoformat()})
        reuse = self._take_spare(f"{self._tmp_text}/{name}")
        return SpoolWriter(self, name, MAGIC + header.encode() + b"\n", reuse=reuse)

    def _take_spare(self, path: str) -> bool:
        """Rename a spare file from `free/` to `path`; False when there is none to take."""
        while True:
            if not self._spares and time.monotonic() >= self._next_look:
                self._spares = _names_in(self.free)
                self._next_look = time.monotonic() + SPARE_LOOK_SECONDS if not self._spares else 0.0
            try:
                spare = self._spares.pop()
            except IndexError:
                return False  # none (`put` may run in a thread while the loop takes one too)
            try:
                os.rename(f"{self._free_text}/{spare}", path)
                return True
            except FileNotFoundError:
                continue  # taken by another listener on the same spool

    def backlog(self) -> int:
        """How many accepted messages wait in `new/` for the worker (0 when the folder is missing)."""
        self.settle()
        try:
            with os.scandir(self.new) as entries:
                return sum(1 for _ in entries)
        except FileNotFoundError:
            return 0

    def waiting(self, limit: int | None = None) -> list[Path]:
        """Files in `new/`, oldest first (the names start with the time received).

        One listing serves the loads for LISTING_SECONDS, or until they have taken every file in
        it: listing and sorting the folder for each batch made draining a large backlog (after a
        database outage) quadratic, 74 ms of CPU per batch at 100,000 files. A file that arrives
        meanwhile has a later name and comes with the next listing. A listed file found missing
        when read (another loader took it, see `read`) makes the next look list the folder anew.
        """
        self.settle()
        while self._listed and self._listed[0] in self._gone:
            self._gone.discard(self._listed.popleft())
        if not self._listed or time.monotonic() >= self._listed_until:
            self._listed = deque(sorted(os.listdir(self.new)))
            self._listed_until = time.monotonic() + LISTING_SECONDS
            self._gone.clear()
        return [self.new / name for name in itertools.islice(self._listed, limit)]

    def read(self, path: Path) -> Spooled:
        """One file back as a `Spooled`; raises SpoolFileError for anything we did not write.

        Raises FileNotFoundError when another loader removed the file first, also when that
        happened while it was being read: a spare is written into again at once.
        """
        try:
            with open(path, "rb") as file:
                data = file.read()
                # Once gone from new/, a name never comes back: the same file still there after
                # the read means nothing was written into it meanwhile.
                if os.stat(path).st_ino != os.fstat(file.fileno()).st_ino:
                    raise FileNotFoundError(path)
        except FileNotFoundError:
            # Another loader is at work on this spool: the next look lists the folder anew.
            self._listed_until = 0.0
            raise
        if not data.startswith(MAGIC) or b"\n" not in data:
            raise SpoolFileError("no mailbridge spool header")
        header, raw = data[len(MAGIC):].split(b"\n", 1)
        try:
            fields = json.loads(header)
            return Spooled(path=path, raw=raw, source=fields["source"], envelope_from=fields["envelope_from"],
                           envelope_rcpts=tuple(fields["envelope_rcpts"]),
                           received_at=datetime.fromisoformat(fields["received_at"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SpoolFileError(f"unreadable spool header: {exc}") from None

    def remove(self, paths: list[Path]) -> None:
        """Forget files whose messages are in the database (another loader may have been first).

        The files become spares in `free/` for the listener to write into (see the module
        docstring), or are deleted past `SPARE_FILES`. They go in a thread of their own: each
        unlink of a synced file waits for the file system's journal (a millisecond or two while
        the listener syncs its files), and the worker calling this is what every message waits for. `waiting` and `backlog` wait for
        the removal first, so a file on its way out is never read again; one left behind by a
        crash is loaded again, found stored, and removed.
        """
        self.settle()
        self._gone.update(path.name for path in paths)
        self._removing = threading.Thread(target=_recycle_all, args=(list(paths), self.free), name="spool-remove",
                                          daemon=True)
        self._removing.start()

    def settle(self) -> None:
        """Wait until the files handed to `remove` are gone."""
        if self._removing is not None:
            self._removing.join()
            self._removing = None

    def set_aside(self, path: Path, reason: str) -> None:
        """Move a file we cannot load to `bad/`, where an operator can look at it."""
        os.rename(path, self.bad / path.name)
        self._gone.add(path.name)
        log.error("spool file %s cannot be loaded (%s): moved to %s", path.name, reason, self.bad)

    def clear_unfinished(self) -> int:
        """Delete `tmp/` files, never answered 250, and empty spares; only at start, before the listener writes.

        A spare still holding mail was moved to `free/` by a removal that a crash cut short
        before it emptied it (`_recycle_all`); that mail is in the database.
        """
        count = 0
        for path in self.tmp.iterdir():
            path.unlink(missing_ok=True)
            count += 1
        for name in _names_in(self.free):
            _empty(self.free / name)
        return count


class SpoolWriter:
    """One message being written to `tmp/`: `write` as it arrives, then `commit` (synced, in `new/`) or `abort`.

    A failed write (disk full) is kept and raised by `commit`, so the reader of the DATA can
    go on draining the client and answer 451 at the end.
    """

    def __init__(self, spool: Spool, name: str, header: bytes, *, reuse: bool = False) -> None:
        """Create the file in `tmp/`, or, with `reuse`, empty the spare already renamed there."""
        self.spool, self.name = spool, name
        self.path = f"{spool._tmp_text}/{name}"
        self.size = 0
        self.error: OSError | None = None
        flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_TRUNC if reuse else os.O_CREAT | os.O_EXCL)
        try:
            self._descriptor: int | None = os.open(self.path, flags, 0o600)
        except OSError:
            if reuse:
                _unlink(self.path)  # a spare still holding a stored message
            raise
        self.write(header)
        self.size = 0

    def write(self, data: bytes) -> None:
        if self.error is not None or self._descriptor is None:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._descriptor, view):]
        except OSError as exc:
            self.error = exc
        self.size += len(data)

    def commit(self) -> str:
        """Sync the file and move it to `new/`; returns its name. Raises OSError, leaving nothing behind."""
        try:
            if self.error is not None:
                raise self.error
            os.fsync(self._descriptor)
            self._close()
            os.rename(self.path, f"{self.spool._new_text}/{self.name}")
        except BaseException:
            self.abort()
            raise
        # Without this a power cut could leave the file in tmp/ (or nowhere) after the sender
        # was told 250. The rename is done, so any sync of new/ that starts from here on covers it.
        self.spool.new_synced.sync()
        return self.name

    def abort(self) -> None:
        """Forget the message (never answered 250): its file goes."""
        self._close()
        _unlink(self.path)

    def _close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


class SharedSync:
    """`sync_directory` for concurrent callers: one sync that starts after a caller's rename covers that caller too.

    Each commit syncing new/ on its own cost a directory sync per message (the second fsync of
    each, and thread switches around it). A caller that finds a sync running waits for it and
    for the next one, which starts after its own rename and so makes that rename durable; the
    callers that arrived meanwhile share that next sync. Every caller still returns only once
    a sync begun after its call is complete, and a failed sync fails its own caller, whose
    waiters then sync for themselves.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = directory
        self._changed = threading.Condition()
        self._arrived = 0  # callers so far, numbered in order of arrival
        self._covered = 0  # callers up to this number have had a sync begun after they arrived
        self._running = False

    def sync(self) -> None:
        """Return once a sync of the directory that began after this call has completed."""
        with self._changed:
            self._arrived += 1
            mine = self._arrived
            while self._covered < mine:
                if self._running:
                    self._changed.wait()
                    continue
                self._run_one()

    def _run_one(self) -> None:
        # Called holding the condition's lock; the sync itself runs without it.
        self._running, upto = True, self._arrived
        self._changed.release()
        try:
            sync_directory(self.directory)
        finally:
            self._changed.acquire()
            self._running = False
            self._changed.notify_all()
        self._covered = max(self._covered, upto)


def _recycle_all(paths: list[Path], free: Path) -> None:
    """Move loaded files to `free/` as empty spares while it has room for them, delete the rest."""
    room = SPARE_FILES - len(_names_in(free))
    for path in paths:
        try:
            if room > 0:
                # Renamed first, then emptied: new/ never shows an empty file to a loader.
                os.rename(path, free / path.name)
                room -= 1
                _empty(free / path.name)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # another loader on the same spool removed it first


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _empty(spare: Path) -> None:
    # The mail is in the database; its copy must not linger on disk until the spare is reused.
    try:
        os.truncate(spare, 0)
    except FileNotFoundError:
        pass  # the listener took it already (and opens it emptied)


def _names_in(folder: Path) -> list[str]:
    # A spool laid out before free/ existed has no spares yet.
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def sync_directory(directory: Path | str) -> None:
    """fsync a folder: a file renamed into it is there after a power cut only once its folder is synced."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
