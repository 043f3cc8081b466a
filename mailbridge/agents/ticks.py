"""Periodic work on agents' tickets: resolved tickets close by themselves, unconfirmed phone tickets remind their agent.

Each pass claims its tickets in one short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
two instances never take the same ticket; SQLite: one writer at a time) and acts in it:

- `close_resolved`: a ticket resolved more than `[agent_mail] auto_close_days` ago (a customer
  reply would have reopened it) is closed, with the customer's "closed" mail;
- `remind_unconfirmed`: a phone ticket whose `confirm_due_at` has passed without a reply from the
  customer's side mails the agent who took it (`phone_reminder`), once: the claim empties the time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from mailbridge import status
from mailbridge.config.models import Config
from mailbridge.outgoing import notify
from mailbridge.sla import clocks
from mailbridge.store.db import Database
from mailbridge.store.models import Ticket

log = logging.getLogger(__name__)
BATCH = 100


def run_once(*, db: Database, config: Config, secret: bytes, now: datetime) -> int:
    """Both passes; how many mails were queued."""
    return (close_resolved(db=db, config=config, secret=secret, now=now)
            + remind_unconfirmed(db=db, config=config, secret=secret, now=now))


def close_resolved(*, db: Database, config: Config, secret: bytes, now: datetime, batch: int = BATCH) -> int:
    """Close the tickets resolved more than `auto_close_days` ago; how many "closed" mails were queued."""
    days = config.agent_mail.auto_close_days
    if days == 0:
        return 0
    before = now - timedelta(days=days)
    statement = (select(Ticket).where(Ticket.status == "resolved", col(Ticket.resolved_at) <= before)
                 .order_by(col(Ticket.resolved_at), col(Ticket.id)).limit(batch).with_for_update(skip_locked=True))

    def close(ticket: Ticket, session: Session) -> int:
        queued = status.apply(ticket, "close", session=session, config=config, secret=secret, now=now)
        log.info("%s closed: resolved %s, no reply from the customer in %d days", ticket.code, ticket.resolved_at, days)
        return queued

    return _each_claimed(db, statement, batch, close)


def remind_unconfirmed(*, db: Database, config: Config, secret: bytes, now: datetime, batch: int = BATCH) -> int:
    """Remind the agents of phone tickets their customers have not confirmed in time; how many mails."""
    statement = (select(Ticket).where(col(Ticket.confirm_due_at) <= now)
                 .order_by(col(Ticket.confirm_due_at), col(Ticket.id)).limit(batch).with_for_update(skip_locked=True))

    def remind(ticket: Ticket, session: Session) -> int:
        queued = _remind(ticket, session=session, config=config, secret=secret, now=now)
        ticket.confirm_due_at = None
        session.add(ticket)
        return queued

    return _each_claimed(db, statement, batch, remind)


def _each_claimed(db: Database, statement, batch: int, handle: Callable[[Ticket, Session], int]) -> int:
    """`handle` each ticket `statement` claims, `batch` to a transaction until fewer come; the mails it queued."""
    queued = 0
    while True:
        with db.session() as session:
            tickets = list(session.exec(statement))
            for ticket in tickets:
                queued += handle(ticket, session)
        if len(tickets) < batch:
            return queued


def _remind(ticket: Ticket, *, session: Session, config: Config, secret: bytes, now: datetime) -> int:
    queue = config.queue(ticket.queue)
    if queue is None or not ticket.opened_by or ticket.status == "closed":
        return 0
    confirm_by = clocks.spoken_time(ticket.confirm_due_at, queue, queue.language)
    mail = notify.Mail(f"phone-reminder:{ticket.id}", "phone_reminder", ticket, queue, ticket.opened_by, "",
                       queue.language, None, (), limited=False, auto_submitted="auto-generated",
                       extra={"confirm_by": confirm_by})
    queued = notify.queue_mail(mail, cause=None, envelope_from=None, session=session, config=config,
                               secret=secret, now=now)
    log.info("%s: taken by phone by %s, not confirmed in writing by %s: reminder %s", ticket.code,
             ticket.opened_by, ticket.confirm_due_at, "queued" if queued else "not queued")
    return int(queued)
