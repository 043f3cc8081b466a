"""Turns at the SQLite write lock: first come, first served among threads, intake first, and handed straight over between processes."""

from __future__ import annotations

import fcntl
import os
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WriterTurns:
    """One writing thread at a time, in order of asking; threads asking `urgent` go first.

    Every SQLite transaction of mailbridge takes the database's write lock at BEGIN. Left to
    SQLite, threads waiting for it poll with sleeps of up to 100 ms, so under load (listener
    threads, the processing worker and the outbox worker all writing) a waiter slept long after
    the lock was free, and whoever happened to wake first won. Queueing here hands the lock over
    the moment it is released, in order, and lets intake (whose commit a sending MTA is waiting
    for) go before the processing of mail already stored. A thread that releases its turn and
    asks again joins the back of the queue, so a busy worker cannot starve the others.
    Re-entrant: a thread already holding its turn opens a nested session as it did before.

    Between processes (`serve` and its processing worker, a CLI command) the thread whose turn
    it is also takes `lock_file`'s lock before BEGIN: a process waiting there is woken by the
    kernel the moment the other one lets go, where SQLite's own wait would sleep in steps of up
    to 100 ms.
    """

    def __init__(self, lock_file: Path | None = None) -> None:
        self._changed = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._queues: dict[bool, deque[object]] = {True: deque(), False: deque()}
        self._between_processes = ProcessLock(lock_file) if lock_file is not None else None

    @property
    def waiting(self) -> int:
        """Threads waiting for a turn (for tests and diagnostics)."""
        return len(self._queues[True]) + len(self._queues[False])

    @contextmanager
    def turn(self, *, urgent: bool = False) -> Iterator[None]:
        self._acquire(urgent)
        outermost = self._depth == 1 and self._between_processes is not None
        try:
            if outermost:
                with self._between_processes.held():
                    yield
            else:
                yield
        finally:
            self._release()

    def close(self) -> None:
        if self._between_processes is not None:
            self._between_processes.close()

    def _acquire(self, urgent: bool) -> None:
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:
                self._depth += 1
                return
            ticket, queue = object(), self._queues[urgent]
            queue.append(ticket)
            try:
                while not (self._owner is None and self._next() is ticket):
                    self._changed.wait()
            finally:
                queue.remove(ticket)
            self._owner, self._depth = me, 1

    def _next(self) -> object | None:
        """The ticket whose turn it is: the oldest urgent one, else the oldest other one."""
        for queue in (self._queues[True], self._queues[False]):
            if queue:
                return queue[0]
        return None

    def _release(self) -> None:
        with self._changed:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._changed.notify_all()


class ProcessLock:
    """An exclusive `flock` on a file beside the database, shared by every process that writes to it.

    The file is opened read-only (flock needs no more), so a CLI command run by another user
    than the service's can take the lock on the file the service created. Where the file cannot
    be opened at all (a read-only directory), there is nothing to hand over and SQLite's own
    locking still keeps writers apart.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None
        self._opened = False

    @contextmanager
    def held(self) -> Iterator[None]:
        fd = self._file()
        if fd is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _file(self) -> int | None:
        if not self._opened:
            self._opened = True
            try:
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._fd = None
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._opened = None, False
