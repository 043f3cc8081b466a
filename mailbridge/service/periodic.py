"""A daemon tick: run one pass in a thread every N seconds until stopped, surviving a failed pass.

The legal-deadline warnings and the agents' tick (auto-close, phone reminders) share this loop;
each gives its pass and where its interval is configured, so a reload reaches the next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from mailbridge.config.models import Config
from mailbridge.errors import error_line

log = logging.getLogger(__name__)


async def every(*, config: Config | Callable[[], Config], interval: Callable[[Config], float],
                work: Callable[[Config, datetime], int], what: str, stop: asyncio.Event,
                on_queued: Callable[[], None], clock: Callable[[], datetime],
                on_tick: Callable[[datetime], None] = lambda at: None) -> None:
    """Until `stop`: `work(config, now)` in a thread, then `on_queued` when it queued mail.

    `config` may be a function returning the current config (a reload replaces it). A failed pass
    (the database is down) is logged as `<what> paused` and tried again at the next round.
    """
    current = config if callable(config) else (lambda: config)
    while not stop.is_set():
        settings = current()
        seconds = interval(settings)
        try:
            now = clock()
            queued = await asyncio.to_thread(work, settings, now)
            on_tick(now)
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: try again at the next tick
            log.error("%s paused: %s; retrying in %s s", what, error_line(exc), seconds)
        else:
            if queued:
                on_queued()
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass
