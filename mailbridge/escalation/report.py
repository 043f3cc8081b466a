"""What escalation did and will do: steps done, failed and skipped (stored), due ones (planned now).

`mailbridge escalations list` prints these; a stored step lists its actions with each SMS's state,
a planned one when it runs, or why it will not (its clock was met, the ticket is pending).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from mailbridge.config.models import Config
from mailbridge.escalation.inbound import ACK_LADDER
from mailbridge.escalation.plan import plan
from mailbridge.store import repo
from mailbridge.store.db import Database
from mailbridge.store.models import EscalationStep, Sms, Ticket


@dataclass
class StepReport:
    """One step of one ticket: `state` is done, failed, skipped or due; `at` when it ran or will run."""

    ticket: str
    ladder: str
    step: int
    clock: str
    state: str
    at: datetime
    due_at: datetime
    detail: list[str] = field(default_factory=list)
    sms: list[dict] = field(default_factory=list)
    # The queue's time zone, which the text listing shows times in.
    zone: str = "UTC"

    def as_json(self) -> dict:
        return {"ticket": self.ticket, "ladder": self.ladder, "step": self.step, "clock": self.clock,
                "state": self.state, "at": self.at.isoformat(), "due_at": self.due_at.isoformat(),
                "detail": self.detail, "sms": self.sms}


def steps(*, db: Database, config: Config, now: datetime, ticket_code: str | None = None,
          limit: int = 200) -> list[StepReport]:
    """Stored steps (newest first), then the planned ones of open tickets with a next look, by time."""
    with db.session() as session:
        tickets = _tickets(session, ticket_code, limit)
        stored = _stored(session, [t.id for t in tickets] if ticket_code else None, limit)
        codes = {t.id: t.code for t in tickets} | _codes(session, {row.ticket_id for row in stored})
        zones = _zones(session, config, {row.ticket_id for row in stored} | {t.id for t in tickets})
        reports = [_from_row(row, codes[row.ticket_id], session, zones[row.ticket_id]) for row in stored]
        done = {(row.ticket_id, row.key) for row in stored}
        upcoming = []
        for ticket in tickets:
            upcoming += _planned(ticket, session=session, config=config, now=now, done=done, zone=zones[ticket.id])
    return reports + sorted(upcoming, key=lambda r: r.at)


def _tickets(session: Session, code: str | None, limit: int) -> list[Ticket]:
    if code is not None:
        ticket = repo.ticket_by_code(code.strip().strip("[]"), session=session)
        return [ticket] if ticket else []
    statement = (select(Ticket).where(col(Ticket.escalate_at).is_not(None))
                 .order_by(col(Ticket.escalate_at)).limit(limit))
    return list(session.exec(statement))


def _stored(session: Session, ticket_ids: list[int] | None, limit: int) -> list[EscalationStep]:
    statement = select(EscalationStep)
    if ticket_ids is not None:
        statement = statement.where(col(EscalationStep.ticket_id).in_(ticket_ids))
    return list(session.exec(statement.order_by(col(EscalationStep.id).desc()).limit(limit)))


def _codes(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.exec(select(Ticket.id, Ticket.code).where(col(Ticket.id).in_(ids))).all())


def _zones(session: Session, config: Config, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(Ticket.id, Ticket.queue).where(col(Ticket.id).in_(ids))).all()
    return {ticket_id: (q.time_zone if (q := config.queue(name)) else "UTC") for ticket_id, name in rows}


def _from_row(row: EscalationStep, code: str, session: Session, zone: str) -> StepReport:
    sms = session.exec(select(Sms).where(Sms.step_id == row.id).order_by(col(Sms.id))).all()
    number = 0 if row.ladder == ACK_LADDER else row.step + 1
    return StepReport(code, row.ladder, number, row.clock, row.state, row.ran_at, row.due_at, list(row.detail),
                      [{"to": s.recipient, "state": s.state, "attempts": s.attempts, "text": s.text,
                        "error": s.last_error} for s in sms], zone)


def _planned(ticket: Ticket, *, session: Session, config: Config, now: datetime, done: set,
             zone: str) -> list[StepReport]:
    found = plan(ticket, session=session, config=config, now=now)
    if found.ladder is None:
        return []
    if found.paused:
        return [StepReport(ticket.code, found.ladder.name, 0, "-", "skipped", now, now,
                           ["ticket pending (waiting for the customer): the ladder is paused"], zone=zone)]
    reports = []
    for planned in found.steps:
        if (ticket.id, planned.key) in done:
            continue
        met = planned.met_at is not None
        reason = [f"{planned.ended_by} at {planned.met_at.isoformat(timespec='minutes')}: not run"] if met else []
        if not met and planned.run_at != planned.due_at:
            reason.append("outside business hours: runs at the next opening")
        reports.append(StepReport(ticket.code, planned.ladder, planned.index + 1, planned.clock,
                                  "skipped" if met else "due", planned.run_at, planned.due_at, reason, zone=zone))
    return reports
