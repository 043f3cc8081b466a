"""One escalation tick: claim the tickets whose look is due, run their due steps once, record them.

The tickets are found by the indexed `escalate_at` (set to the time of a change by the clocks, and
by the tick to its next step's run time) and claimed in one transaction: on PostgreSQL
`FOR UPDATE SKIP LOCKED`, so two instances never take one ticket; SQLite transactions begin
IMMEDIATE. In that same transaction each due step's row is inserted (unique per ticket and key),
its mails and SMS are queued with unique intents, its priority or owner change is made, and the
ticket's next look is stored: a crash before the commit did nothing, after it everything is
recorded and each SMS is then sent by `sms.sender`, once. The database is the truth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailbridge.config.models import Config
from mailbridge.escalation import actions
from mailbridge.escalation.plan import plan
from mailbridge.store.db import Database
from mailbridge.store.models import EscalationStep, Ticket

log = logging.getLogger(__name__)

# Tickets claimed per transaction. On SQLite the transaction holds the write lock the processing
# worker waits for, and a ticket's steps render mail: small batches keep that wait short.
BATCH = 25
# A step that raises the priority can put the ticket on another ladder, which is planned at once:
# a bound on how often one tick may look at one ticket again.
MAX_ROUNDS = 5


@dataclass
class Ticked:
    """What one tick did: tickets looked at, steps run, and the step rows (for the caller's log)."""

    tickets: int = 0
    steps: int = 0
    lines: list[str] = field(default_factory=list)


def run_due(*, db: Database, config: Config, secret: bytes, now: datetime, batch: int = BATCH) -> Ticked:
    """Run every step due at `now`, each once; later steps are left for the tick at their time."""
    ticked = Ticked()
    if not config.escalation.ladders:
        return ticked
    for _ in range(10_000):
        claimed = _batch(db=db, config=config, secret=secret, now=now, batch=batch, ticked=ticked)
        if claimed < batch:
            break
    return ticked


def due_query(now: datetime, *, limit: int):
    """The tickets whose escalation look is due, earliest first (by the `escalate_at` index)."""
    return (select(Ticket).where(col(Ticket.escalate_at) <= now)
            .order_by(col(Ticket.escalate_at), col(Ticket.id)).limit(limit))


def next_look(db: Database) -> datetime | None:
    """The earliest escalation look of any ticket (the index's first entry), for the loop's sleep."""
    with db.session() as session:
        return session.exec(select(func.min(Ticket.escalate_at))).one()


def _batch(*, db: Database, config: Config, secret: bytes, now: datetime, batch: int, ticked: Ticked) -> int:
    with db.session() as session:
        tickets = list(session.exec(due_query(now, limit=batch).with_for_update(skip_locked=True)))
        for ticket in tickets:
            _escalate(ticket, session=session, config=config, secret=secret, now=now, ticked=ticked)
        ticked.tickets += len(tickets)
    return len(tickets)


def _escalate(ticket: Ticket, *, session: Session, config: Config, secret: bytes, now: datetime,
              ticked: Ticked) -> None:
    done = set(session.exec(select(EscalationStep.key).where(EscalationStep.ticket_id == ticket.id)))
    for _ in range(MAX_ROUNDS):
        found = plan(ticket, session=session, config=config, now=now)
        priority = ticket.priority
        for planned in found.runnable(now):
            if planned.key in done:
                continue
            done.add(planned.key)
            row = actions.claim_step(ticket, planned, session=session, now=now)
            if row is None:
                continue
            detail = actions.run_step(ticket, planned, row, session=session, config=config, secret=secret, now=now)
            ticked.steps += 1
            ticked.lines.append(f"{ticket.code} {planned.ladder} step {planned.index + 1}: {'; '.join(detail)}")
            log.info("escalation of %s, %s step %d: %s", ticket.code, planned.ladder, planned.index + 1,
                     "; ".join(detail) or "nothing to do")
        if ticket.priority == priority:
            break
    ticket.escalate_at = found.next_run(now, done)
    session.add(ticket)
