"""Parser processes: raw messages parsed ahead of the process that stores them, results in the order asked, a crash pinned on its message.

On SQLite every write takes the one database write lock, so storing stays in one process, in
id order (a reply is never stored before the message it answers). What that process does not
need the database for, parsing, is a third of its work and is done here, ahead of it, by
`size` other processes: a `ProcessPoolExecutor` whose processes are forked from a forkserver
that imported the parser alone (`mailbridge.parse.stage`: about 27 MB each, against 75 MB for
a process that loads the pipeline and its database layers).

Messages travel in chunks of CHUNK (one hand-over per chunk rather than per message: the
pool's bookkeeping runs in the storing process and costs it CPU), and a parse result comes
back without the raw bytes it was parsed from, which the storing process already holds.

A parser process that dies (killed for its memory, a crash in C code) breaks the whole pool,
and any of the messages in flight may be to blame. The ones not answered are parsed again one
at a time in a fresh pool: a message that kills its parser alone is the culprit, and becomes a
`ParseFailure` (quarantined at stage parse like any other); the rest go on. The time limit
(`PARSE_SECONDS`) applies in the parser, whose jobs run in its main thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from itertools import islice

from mailbridge.parse.model import ParsedMessage
from mailbridge.parse.stage import ParseFailure, parse_stage

log = logging.getLogger(__name__)

Result = ParsedMessage | ParseFailure
# What the forkserver imports once, for every parser it forks.
PRELOAD = ["mailbridge.parse.stage"]
# Messages handed to a parser at once.
CHUNK = 5
# How often a parser looks whether the process it works for is still there.
ORPHAN_CHECK_SECONDS = 1.0
CRASHED = ("ParserCrash: the parser process died while parsing this message "
           "(killed for its memory, or a crash in the parser)")


class ParserPool:
    """`size` parser processes, started at the first message; `job` is what they run on each one."""

    def __init__(self, size: int, job: Callable[[bytes], Result] = parse_stage) -> None:
        self.size, self._job = size, job
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the parser processes now rather than at the first message, which would wait for them.

        The forkserver's start and its import of the parser take about 0.4 s: at a daemon's start,
        not in the first mail's path.
        """
        pool = self._pool()
        try:
            # One job each: a pool spawns a process for a job while none is idle, up to its size.
            for future in [pool.submit(_ready) for _ in range(self.size)]:
                future.result()
        except BrokenProcessPool:
            # Nothing was being parsed: they are started again at the first message, as without this.
            self._discard()
            log.warning("a parser process died as it started; the parsers start again with the first message")

    def parsed(self, contents: Iterable[bytes], ahead: int) -> Iterator[Result]:
        """The result for each of `contents`, in their order; at most `ahead` are parsed before being asked for.

        Close the iterator (or exhaust it) when done: what it parsed ahead and was not asked for is dropped.
        """
        waiting: deque[tuple[list[bytes], Future]] = deque()
        source = iter(contents)
        try:
            while True:
                while len(waiting) * CHUNK < max(1, ahead) and (chunk := list(islice(source, CHUNK))):
                    waiting.append((chunk, self._pool().submit(_parse_each, self._job, chunk)))
                if not waiting:
                    return
                chunk, future = waiting.popleft()
                try:
                    results = future.result()
                except BrokenProcessPool:
                    suspects = [*chunk, *(raw for queued, _ in waiting for raw in queued)]
                    waiting.clear()
                    self._discard()
                    log.warning("a parser process died; parsing the %d message(s) it may have had one at a time",
                                len(suspects))
                    yield from (self._alone(suspect) for suspect in suspects)
                    continue
                yield from (_with_raw(result, raw) for result, raw in zip(results, chunk))
        finally:
            for _, future in waiting:
                future.cancel()

    def close(self) -> None:
        """Stop the parser processes (a job in hand is finished first)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _alone(self, raw: bytes) -> Result:
        """Parse one message with no other in flight, so that a crash can only be its own."""
        try:
            [result] = self._pool().submit(_parse_each, self._job, [raw]).result()
            return _with_raw(result, raw)
        except BrokenProcessPool:
            self._discard()
            log.error("a message killed its parser process; it is quarantined at stage parse")
            return ParseFailure(CRASHED)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.size, mp_context=self._context,
                                                 initializer=_parser_started, initargs=(os.getpid(),))
        return self._executor

    def _discard(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _ready() -> None:
    """In a parser: nothing; `ParserPool.start` waits for one of these per process."""


def _parse_each(job: Callable[[bytes], Result], chunk: Sequence[bytes]) -> list[Result]:
    """In a parser: each message's result, without the raw bytes the storing process already has."""
    results = []
    for raw in chunk:
        result = job(raw)
        results.append(replace(result, raw=b"") if isinstance(result, ParsedMessage) and result.raw is raw else result)
    return results


def _with_raw(result: Result, raw: bytes) -> Result:
    """A result as parsing in place gives it: with the bytes it was parsed from."""
    if isinstance(result, ParsedMessage) and not result.raw:
        return replace(result, raw=raw)
    return result


def _parser_started(leader: int) -> None:
    """In each parser: like the worker it serves, leave stopping to `serve`, and never outlive the worker."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(leader, parent), name="orphan-check", daemon=True).start()


def _exit_when_orphaned(leader: int, parent: int) -> None:
    # A parser waits for work on a pipe it holds both ends of, so it would never see the worker
    # die: it looks instead. Its parent (the forkserver) exits with the worker, and the worker's
    # pid stops being there.
    while os.getppid() == parent and _exists(leader):
        threading.Event().wait(ORPHAN_CHECK_SECONDS)
    os._exit(0)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
