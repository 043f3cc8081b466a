"""The daemon's loop around `agents.ticks`: close resolved tickets and remind of phone tickets, every `[agent_mail] tick_seconds`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from mailbridge.agents import ticks
from mailbridge.config.models import Config
from mailbridge.errors import error_line
from mailbridge.store.db import Database
from mailbridge.store.types import utcnow

log = logging.getLogger(__name__)


async def run(*, db: Database, config: Config | Callable[[], Config], stop: asyncio.Event,
              on_queued: Callable[[], None], clock: Callable[[], datetime] = utcnow) -> None:
    """Until `stop`: one pass of each, then wake the outbox worker (`on_queued`) when mail was queued.

    `config` may be a function returning the current config, so that a reload reaches the next tick.
    """
    current = config if callable(config) else (lambda: config)
    while not stop.is_set():
        every = current().agent_mail.tick_seconds
        try:
            queued = await asyncio.to_thread(_tick, db, current(), clock())
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: try again at the next tick
            log.error("closing resolved tickets and phone reminders paused: %s; retrying in %s s", error_line(exc), every)
        else:
            if queued:
                on_queued()
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


def _tick(db: Database, config: Config, now: datetime) -> int:
    # The secret may be read from its file (made at the first need): in the thread, not the loop.
    return ticks.run_once(db=db, config=config, secret=config.secret_bytes(), now=now)
