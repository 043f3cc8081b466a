"""Legal-deadline warnings: claim the tickets whose warning time has come and mail their owner or queue's agents.

`warn_due` is one pass (tests call it with an injected `now`); `run` is the daemon's loop
around it, every `[sla] tick_seconds`. A ticket is claimed by emptying its `deadline_warn_at` in
the transaction that queues its mails, one per agent, so each warning is given once: on
PostgreSQL the due tickets are picked `FOR UPDATE SKIP LOCKED` (two instances never take the
same one) and SQLite transactions begin IMMEDIATE (one writer at a time). The outbox intent
`deadline:<ticket>:<deadline>:<agent>` is unique besides, so a warning armed again for the same
deadline (a clock refresh racing the claim) queues nothing twice; a deadline that moves (a type
or calendar change) is a new intent and warns again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlmodel import Session

from mailbridge import ownership
from mailbridge.outgoing import notify
from mailbridge.config.models import Config
from mailbridge.store import repo_clock
from mailbridge.store.db import Database
from mailbridge.store.models import Ticket
from mailbridge.service import periodic
from mailbridge.status import customer_thread
from mailbridge.store.types import utcnow

log = logging.getLogger(__name__)

# Tickets claimed per transaction: a backlog after downtime is taken in several short ones.
BATCH = 100
# A resolved or closed ticket has met (or missed) its deadline: a warning would say nothing.
FINISHED = frozenset({"resolved", "closed"})


def warn_due(*, db: Database, config: Config, secret: bytes, now: datetime, batch: int = BATCH) -> int:
    """Claim every ticket whose warning is due at `now` and queue its warnings; how many mails were queued."""
    queued = 0
    while True:
        claimed, mails = _warn_batch(db=db, config=config, secret=secret, now=now, batch=batch)
        queued += mails
        if claimed < batch:
            return queued


def _warn_batch(*, db: Database, config: Config, secret: bytes, now: datetime, batch: int) -> tuple[int, int]:
    """One transaction: up to `batch` due tickets claimed and warned; (tickets claimed, mails queued)."""
    statement = repo_clock.deadline_warnings_query(now, limit=batch).with_for_update(skip_locked=True)
    with db.session() as session:
        tickets = list(session.exec(statement))
        mails = 0
        for ticket in tickets:
            mails += _warn(ticket, session=session, config=config, secret=secret, now=now)
            ticket.deadline_warn_at = None
            session.add(ticket)
    return len(tickets), mails


def _warn(ticket: Ticket, *, session: Session, config: Config, secret: bytes, now: datetime) -> int:
    """Queue the warning of one ticket to each agent of its queue; how many mails were queued."""
    queue = config.queue(ticket.queue)
    if ticket.status in FINISHED or ticket.deadline_at is None or queue is None:
        return 0
    if not queue.agents:
        log.warning("legal deadline of %s is near but queue %s has no agents to warn", ticket.code, queue.name)
        return 0
    about, references = customer_thread(ticket, session=session)
    deadline = ticket.deadline_at.astimezone(UTC).isoformat(timespec="minutes")
    queued = 0
    # The owner when the ticket has one (`[agent_mail] notices_to`), else every agent of the queue.
    for agent in ownership.notice_recipients(ticket, queue, config):
        mail = notify.Mail(f"deadline:{ticket.id}:{deadline}:{agent.lower()}", "deadline_warning", ticket, queue,
                           agent, "", queue.language, about, references, limited=False,
                           auto_submitted="auto-generated")
        queued += notify.queue_mail(mail, cause=None, envelope_from=None, session=session, config=config,
                                    secret=secret, now=now)
    log.info("legal deadline of %s (%s, due %s): %d warning(s) queued", ticket.code, ticket.type, deadline, queued)
    return queued


async def run(*, db: Database, config: Config | Callable[[], Config], stop: asyncio.Event,
              on_queued: Callable[[], None], clock: Callable[[], datetime] = utcnow,
              on_tick: Callable[[datetime], None] = lambda at: None) -> None:
    """Every `[sla] tick_seconds` until `stop`: queue the due warnings, then wake the outbox worker (`on_queued`).

    `config` may be a function returning the current config, so that a reload reaches the next tick.
    """
    await periodic.every(config=config, interval=lambda c: c.sla.tick_seconds, work=lambda c, now: _tick(db, c, now),
                         what="deadline warnings", stop=stop, on_queued=on_queued, clock=clock, on_tick=on_tick)


def _tick(db: Database, config: Config, now: datetime) -> int:
    # The secret may be read from its file (made at the first need): in the thread, not the loop.
    return warn_due(db=db, config=config, secret=config.secret_bytes(), now=now)
