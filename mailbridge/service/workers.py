"""`serve`'s processing workers as one: how many processes `[processing] workers` means on this database, and starting, waking, replacing and stopping them together.

`workers = N` uses N processes for processing either way, laid out by what the database lets
run at once (`layout`):

- PostgreSQL: N worker processes, each claiming rows with `FOR UPDATE SKIP LOCKED` and storing
  them, side by side (a reply still waits for the older rows other workers hold: see
  `mailbridge.service.worker`);
- SQLite: one worker process that claims and stores, in id order (SQLite has one writer at a
  time), and N - 1 parser processes of its own that parse the next messages meanwhile
  (`mailbridge.service.parsers`). With N = 1 the worker parses as it stores, as before.

`alive` (the watchdog's and the heartbeat's) holds while every worker process answers; a
reload that changes N starts the new slots and lets the ones no longer wanted finish. Each
worker's pulse (after each group it committed and each round) is passed on as `on_progress`:
`serve` wakes the sender with it, which sends what the group queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mailbridge.config import Config
from mailbridge.service.child_process import POLL_SECONDS
from mailbridge.service.worker_process import WorkerProcess


def layout(config: Config, dialect: str) -> tuple[int, int]:
    """(worker processes, parser processes each) for `[processing] workers` on this database."""
    workers = config.processing.workers
    if dialect == "postgresql":
        return workers, 0
    return 1, workers - 1


class Workers:
    """The worker processes of one `serve`, by slot (0, 1, ...)."""

    def __init__(self, config: Config, url: str, dialect: str, *, log_level: str = "info",
                 log_format: str = "text", pulse_seconds: float = POLL_SECONDS,
                 on_outcome: Callable[[str, str, float], None] = lambda kind, source, seconds: None,
                 on_progress: Callable[[], None] = lambda: None) -> None:
        self._url, self._dialect = url, dialect
        self._options = {"log_level": log_level, "log_format": log_format, "pulse_seconds": pulse_seconds,
                         "on_outcome": on_outcome, "on_pulse": on_progress}
        processes, self.parsers = layout(config, dialect)
        self._slots = [self._new(config, slot) for slot in range(processes)]
        self._leaving: list[asyncio.Task] = []
        self._restarts_before = 0  # of slots a reload has since let go

    def _new(self, config: Config, slot: int) -> WorkerProcess:
        # Slot 0 moves the spool; the mail it moved is every worker's to take.
        loaded = self._wake_others if slot == 0 else (lambda: None)
        return WorkerProcess(config, self._url, slot=slot, parsers=self.parsers, on_loaded=loaded, **self._options)

    @property
    def alive(self) -> bool:
        """Whether every worker process runs and has pulsed lately."""
        return all(worker.alive for worker in self._slots)

    @property
    def pids(self) -> list[int | None]:
        return [worker.pid for worker in self._slots]

    @property
    def pid(self) -> int | None:
        """The first worker's pid (the one that also moves the spool)."""
        return self._slots[0].pid

    @property
    def processes(self) -> int:
        return len(self._slots)

    @property
    def restarts(self) -> int:
        """Times a worker process died and was started again, all slots together."""
        return self._restarts_before + sum(worker.restarts for worker in self._slots)

    async def start(self) -> None:
        for worker in self._slots:
            await worker.start()

    def wake(self) -> None:
        """Mail was spooled or stored: every worker looks (the ones with nothing to take go back to sleep)."""
        for worker in self._slots:
            worker.wake()

    def _wake_others(self) -> None:
        for worker in self._slots[1:]:
            worker.wake()

    async def replace(self, config: Config) -> None:
        """Go on with `config`: each kept worker once it has finished the message in hand; new slots start now."""
        processes, self.parsers = layout(config, self._dialect)
        kept, leaving = self._slots[:processes], self._slots[processes:]
        for worker in kept:
            worker.replace(config, parsers=self.parsers)
        for worker in leaving:
            self._restarts_before += worker.restarts
            self._leaving.append(asyncio.create_task(worker.stop()))
        added = [self._new(config, slot) for slot in range(len(kept), processes)]
        self._slots = kept + added
        for worker in added:
            await worker.start()

    async def stop(self) -> None:
        """Let every worker finish the message in hand and exit (see `WorkerProcess.stop`)."""
        await asyncio.gather(*(worker.stop() for worker in self._slots), *self._leaving)
