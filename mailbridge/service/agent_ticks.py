"""The daemon's loop around `agents.ticks`: close resolved tickets and remind of phone tickets, every `[agent_mail] tick_seconds`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from mailbridge.agents import ticks
from mailbridge.config.models import Config
from mailbridge.service import periodic
from mailbridge.store.db import Database
from mailbridge.store.types import utcnow


async def run(*, db: Database, config: Config | Callable[[], Config], stop: asyncio.Event,
              on_queued: Callable[[], None], clock: Callable[[], datetime] = utcnow) -> None:
    """Until `stop`: one pass of each, then wake the outbox worker (`on_queued`) when mail was queued.

    `config` may be a function returning the current config, so that a reload reaches the next tick.
    """
    await periodic.every(config=config, interval=lambda c: c.agent_mail.tick_seconds,
                         work=lambda c, now: _tick(db, c, now), what="closing resolved tickets and phone reminders",
                         stop=stop, on_queued=on_queued, clock=clock)


def _tick(db: Database, config: Config, now: datetime) -> int:
    # The secret may be read from its file (made at the first need): in the thread, not the loop.
    return ticks.run_once(db=db, config=config, secret=config.secret_bytes(), now=now)
