"""Data access for SLA clocks: the ticket status log, the events clocks are computed from, and due-time lookups.

Every change of a ticket's status, priority or type is logged as a `TicketEvent` by a
`before_flush` hook, whoever makes it (the pipeline, a status command, a later web UI), at
the ticket's `updated_at`, in the same transaction. The same hook empties the due times of a
ticket that stops counting (pending, resolved, closed), so an overdue listing never shows it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, event, inspect, literal, literal_column, union_all
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from mailbridge.store import direct
from mailbridge.store.models import Message, Ticket, TicketEvent

STATUS_KINDS = ("pending", "open", "resolved", "reopened", "closed")
# Message kinds that are clock events; automatic mail and notes are not (the acknowledgement
# is never a response).
MESSAGE_EVENTS = ("customer", "agent")
# Statuses whose response and resolution clocks do not run.
STOPPED = frozenset({"pending", "resolved", "closed"})


def status_kind(before: str, after: str) -> str:
    """The clock event of a status change: leaving resolved or closed for open is a reopen."""
    if after == "open" and before in ("resolved", "closed"):
        return "reopened"
    return after if after in STATUS_KINDS else "open"


def status_events(ticket_id: int, *, session: Session) -> list[TicketEvent]:
    """The status changes of a ticket, oldest first."""
    statement = (select(TicketEvent)
                 .where(TicketEvent.ticket_id == ticket_id, col(TicketEvent.kind).in_(STATUS_KINDS))
                 .order_by(col(TicketEvent.at), col(TicketEvent.id)))
    return list(session.exec(statement))


def clock_events(ticket_id: int, *, session: Session) -> list[tuple[datetime, str]]:
    """(time, kind) of the ticket's customer and agent mail and status changes, in time order."""
    # A Core statement, which `session.execute` would not flush for either: run past the ORM's layer.
    return [(at, kind) for at, kind, _, _ in direct.run(session, _CLOCK_EVENTS, {"ticket_id": ticket_id})]


def _clock_events_statement():
    # One query built once: the two columns a clock needs, not two lists of whole rows. At the
    # same instant mail comes before a status change (the order the clocks were computed in).
    # The kinds are bound one by one (`IN (?, ?)`), not as a list: a list is an "expanding"
    # parameter, which SQLAlchemy writes into the SQL text again at every execution.
    messages, events = Message.__table__, TicketEvent.__table__
    mail = select(messages.c.received_at.label("at"), messages.c.kind, literal_column("0").label("source"),
                  messages.c.id).where(messages.c.ticket_id == bindparam("ticket_id"),
                                       messages.c.kind.in_([literal(kind) for kind in MESSAGE_EVENTS]))
    status = select(events.c.at, events.c.kind, literal_column("1"), events.c.id).where(
        events.c.ticket_id == bindparam("ticket_id"), events.c.kind.in_([literal(kind) for kind in STATUS_KINDS]))
    return union_all(mail, status).order_by("at", "source", "id")


_CLOCK_EVENTS = _clock_events_statement()


def events_of(ticket_id: int, *, session: Session) -> list[TicketEvent]:
    """Every logged change of a ticket (status, priority, type), oldest first."""
    statement = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(col(TicketEvent.at),
                                                                                      col(TicketEvent.id))
    return list(session.exec(statement))


def overdue(*, session: Session, now: datetime, queue: str | None = None, limit: int = 200) -> list[Ticket]:
    """Tickets with a response or resolution clock past due, most overdue first (by index)."""
    return list(session.exec(overdue_query(now, queue=queue, limit=limit)))


def overdue_query(now: datetime, *, queue: str | None = None, limit: int = 200):
    statement = select(Ticket).where(col(Ticket.next_due_at) <= now)
    if queue is not None:
        statement = statement.where(Ticket.queue == queue)
    return statement.order_by(col(Ticket.next_due_at), col(Ticket.id)).limit(limit)


def deadline_warnings_due(*, session: Session, now: datetime, limit: int = 200) -> list[Ticket]:
    """Tickets whose legal-deadline warning time has come (by index), earliest first."""
    return list(session.exec(deadline_warnings_query(now, limit=limit)))


def deadline_warnings_query(now: datetime, *, limit: int = 200):
    return (select(Ticket).where(col(Ticket.deadline_warn_at) <= now)
            .order_by(col(Ticket.deadline_warn_at), col(Ticket.id)).limit(limit))


@event.listens_for(OrmSession, "before_flush")
def _log_ticket_changes(session: OrmSession, flush_context, instances) -> None:
    for ticket in [obj for obj in session.dirty if isinstance(obj, Ticket)]:
        changes = _changes(ticket)
        # What is set at the instant of creation (the rules' priority and type) is the ticket's
        # first state, not a change of it.
        logged = {} if ticket.updated_at == ticket.created_at else changes
        for field, (before, after) in logged.items():
            kind = status_kind(before, after) if field == "status" else field
            session.add(TicketEvent(ticket_id=ticket.id, at=ticket.updated_at, kind=kind,
                                    before=before or "", after=after or ""))
        if "status" in changes and changes["status"][1] in STOPPED:
            ticket.next_due_at = None
            if changes["status"][1] != "pending":
                ticket.deadline_warn_at = None


def _changes(ticket: Ticket) -> dict[str, tuple[str, str]]:
    """Status, priority and type as (before, after) where this flush changes them."""
    state = inspect(ticket)
    found = {}
    for field in ("status", "priority", "type"):
        history = state.attrs[field].history
        if history.added and history.deleted and history.added[0] != history.deleted[0]:
            found[field] = (history.deleted[0], history.added[0])
    return found
