"""The escalation loop inside `serve`: run the due ladder steps, then send the due SMS, again and again.

It wakes every `[escalation] tick_seconds`, or sooner when the earliest `escalate_at` of any
ticket (read by index) comes first; each wake runs one tick (`escalation.tick.run_due`), wakes
the outbox worker when mail was queued, and sends the SMS that are due (`escalation.sms.sender`).
Database trouble pauses it until the next wake; nothing is lost, the due rows wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from mailbridge.config.models import Config
from mailbridge.errors import error_line
from mailbridge.escalation import tick
from mailbridge.escalation.sms.choose import provider_for
from mailbridge.escalation.sms.sender import deliver_due
from mailbridge.store.db import Database
from mailbridge.store.types import utcnow

log = logging.getLogger(__name__)

# The shortest sleep: a burst of due looks is taken in one tick, not one tick per ticket.
MIN_SLEEP = 0.5


async def run(*, db: Database, config: Config | Callable[[], Config], stop: asyncio.Event,
              on_queued: Callable[[], None], clock: Callable[[], datetime] = utcnow) -> None:
    """Until `stop`: one tick and one SMS pass at each wake; `on_queued` wakes the outbox worker.

    `config` may be a function returning the current config, so that a reload reaches the next wake
    (ladders, phones and the SMS provider included).
    """
    current = config if callable(config) else (lambda: config)
    provider, built_for = None, None
    while not stop.is_set():
        settings = current()
        every = settings.escalation.tick_seconds
        if built_for is not settings:
            provider, built_for = provider_for(settings, clock=clock), settings
        steps, upcoming = 0, None
        if settings.escalation.ladders:
            try:
                steps = await asyncio.to_thread(once, db, settings, provider, clock, stop.is_set)
                upcoming = await asyncio.to_thread(tick.next_look, db)
            except Exception as exc:  # noqa: BLE001 - e.g. the database is down: try again at the next wake
                log.error("escalation paused: %s; retrying in %s s", error_line(exc), every)
        if steps:
            on_queued()
        try:
            await asyncio.wait_for(stop.wait(), _sleep(every, upcoming, clock()))
        except TimeoutError:
            pass


def once(db: Database, config: Config, provider, clock: Callable[[], datetime],
         stop: Callable[[], bool] = lambda: False) -> int:
    """One tick and one SMS pass (what `mailbridge escalations run` does too); how many steps ran."""
    ticked = tick.run_due(db=db, config=config, secret=config.secret_bytes(), now=clock())
    deliver_due(db=db, config=config, provider=provider, clock=clock, stop=stop)
    return ticked.steps


def _sleep(every: float, upcoming: datetime | None, now: datetime) -> float:
    if upcoming is None:
        return every
    return min(every, max((upcoming - now).total_seconds(), MIN_SLEEP))
