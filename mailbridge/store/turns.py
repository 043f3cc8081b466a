"""Turns at the SQLite write lock for the threads of one process: first come, first served, intake first."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


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
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._queues: dict[bool, deque[object]] = {True: deque(), False: deque()}

    @property
    def waiting(self) -> int:
        """Threads waiting for a turn (for tests and diagnostics)."""
        return len(self._queues[True]) + len(self._queues[False])

    @contextmanager
    def turn(self, *, urgent: bool = False) -> Iterator[None]:
        self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

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
