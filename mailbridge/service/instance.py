"""This `serve` as other processes see it: its heartbeat row, refreshed with the state of its parts.

Every `HEARTBEAT_SECONDS` the daemon's parts (listener, IMAP pollers, processing workers, sender, spool,
last deadline tick) and the database backlog are written to this instance's row, which
`mailbridge status` reads from any host sharing the database; the same snapshot feeds the
metrics' gauges. A database that cannot be reached is logged once and tried again at the next
beat: the daemon goes on taking mail into its spool meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib.metadata import version

from mailbridge.errors import error_line
from mailbridge.intake.spool import Spool
from mailbridge.service import health
from mailbridge.service.sender_process import SenderProcess
from mailbridge.service.workers import Workers
from mailbridge.sources.imap import Poller
from mailbridge.store import heartbeat
from mailbridge.store.db import Database
from mailbridge.store.types import utcnow

log = logging.getLogger(__name__)


class Instance:
    """The parts of one running `serve`, and its heartbeat."""

    def __init__(self, *, db: Database, spool: Spool, worker: Workers, sender: SenderProcess,
                 pollers: Sequence[Poller], listener: dict, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.spool, self.worker, self.sender, self.pollers = db, spool, worker, sender, pollers
        self.listener = listener
        self.clock = clock
        self.started_at = clock()
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.last_tick_at: datetime | None = None
        self.reloaded_at: datetime | None = None
        self.metrics: str | None = None
        self.snapshot: dict = {}
        self._failing: str | None = None

    def parts(self) -> dict:
        """The state of the parts of this process (no database access)."""
        return {
            "listener": self.listener,
            "imap": [{"account": p.account.name, "state": p.state, "problem": p.problem} for p in self.pollers],
            "worker": {"alive": self.worker.alive, "pid": self.worker.pid, "pids": self.worker.pids,
                       "processes": self.worker.processes, "parsers": self.worker.parsers,
                       "restarts": self.worker.restarts},
            "sender": {"alive": self.sender.alive, "pid": self.sender.pid, "restarts": self.sender.restarts},
            "spool_backlog": self.spool.backlog(),
            "last_tick_at": self.last_tick_at.isoformat() if self.last_tick_at else None,
            "reloaded_at": self.reloaded_at.isoformat() if self.reloaded_at else None,
            "metrics": self.metrics,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Register, beat until `stop`, then say this instance stopped."""
        await self._guarded(self._register)
        while not stop.is_set():
            self.snapshot = {**self.parts(), "started_at_unix": self.started_at.timestamp(),
                             "backlog": self.snapshot.get("backlog")}
            await self._guarded(self._beat)
            try:
                await asyncio.wait_for(stop.wait(), health.HEARTBEAT_SECONDS)
            except TimeoutError:
                pass

    async def stopped(self) -> None:
        parts = self.parts()
        await self._guarded(lambda: heartbeat.stopped(self.db, self.id, now=self.clock(), state=parts))

    def _register(self) -> None:
        now = self.clock()
        heartbeat.register(self.db, heartbeat.Heartbeat(
            instance=self.id, host=socket.gethostname(), pid=os.getpid(), version=version("mailbridge"),
            started_at=self.started_at, beat_at=now, state=self.parts()))

    def _beat(self) -> None:
        now = self.clock()
        counts = health.backlog(self.db, now=now)
        self.snapshot["backlog"] = counts
        heartbeat.beat(self.db, self.id, now=now, state=self.parts())

    async def _guarded(self, call: Callable[[], None]) -> None:
        try:
            await asyncio.to_thread(call)
        except Exception as exc:  # noqa: BLE001 - the database may be down: mail still comes in
            line = error_line(exc)
            if line != self._failing:
                log.error("heartbeat not written: %s; trying again in %.0f s", line, health.HEARTBEAT_SECONDS)
            self._failing = line
        else:
            if self._failing is not None:
                log.info("heartbeat written again")
            self._failing = None
