"""Which steps of a ticket's ladder are due when, from its clocks and events (no writes).

A step is anchored to a clock: the receipt (counted like a response clock, so pending time does
not count), or the due time of a first-response, next-response or resolution clock (one step run
per clock cycle). It is due `after` past its anchor and runs at the next business opening of the
ladder's calendar unless `any_time`. It is not run when its clock is met (an agent answer, a
resolve or close), when an agent acknowledged the escalation by SMS after its cycle started
(`inbound`), while the ticket is pending, or once the ticket is no longer open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mailbridge.config.escalation import LadderConfig, StepConfig
from mailbridge.config.models import Config
from mailbridge.escalation.inbound import ACK_LADDER
from mailbridge.config.sla import named_calendar
from mailbridge.sla import bizcal, clockmath, clocks
from mailbridge.sla.bizcal import Calendar
from mailbridge.store.models import EscalationStep, Ticket

ACTIVE = frozenset({"new", "open"})
_DUE_CLOCKS = {"first_response_due": "first_response", "next_response_due": "next_response",
               "resolution_due": "resolution"}


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of one clock cycle: when it is due and runs, and whether its clock already ended it."""

    ladder: str
    index: int
    step: StepConfig
    clock: str
    cycle_start: datetime
    due_at: datetime
    run_at: datetime
    met_at: datetime | None
    # What ended it: "clock met" (an answer, a resolve or close) or "acknowledged by SMS".
    ended_by: str = ""

    @property
    def key(self) -> str:
        """What makes the step unique on its ticket: ladder, step, clock and the cycle's start."""
        return f"{self.ladder}#{self.index}@{self.clock}:{self.cycle_start.isoformat(timespec='seconds')}"


@dataclass(frozen=True, slots=True)
class Plan:
    """A ticket's ladder (or none) and its steps as of `now`; `paused` while pending."""

    ladder: LadderConfig | None
    steps: list[PlannedStep]
    paused: bool = False

    def runnable(self, now: datetime) -> list[PlannedStep]:
        """Steps whose time has come and whose clock is still running."""
        return [s for s in self.steps if s.run_at <= now and s.met_at is None]

    def next_run(self, now: datetime, done: set[str]) -> datetime | None:
        """When the tick should look again: the earliest later step not done and not ended by its clock."""
        later = [s.run_at for s in self.steps if s.key not in done and s.met_at is None and s.run_at > now]
        return min(later, default=None)


def ladder_of(ticket: Ticket, config: Config) -> tuple[LadderConfig | None, Calendar | None]:
    """The ticket's ladder and the calendar its steps keep (the ladder's, else the queue's)."""
    queue = config.queue(ticket.queue)
    if queue is None:
        return None, None
    ladder = config.escalation.ladder_for(queue=ticket.queue, priority=ticket.priority, type_=ticket.type,
                                          plan=ticket.plan)
    if ladder is None:
        return None, None
    return ladder, named_calendar(config, ladder.calendar, queue)


def plan(ticket: Ticket, *, session: Session, config: Config, now: datetime) -> Plan:
    """The ticket's ladder steps as of `now` (nothing for a ticket that is not open)."""
    ladder, calendar = ladder_of(ticket, config)
    if ladder is None or ticket.status not in ACTIVE:
        return Plan(ladder, [], paused=ticket.status == "pending")
    events = clocks.events_of(ticket, session=session)
    computed = clocks.compute(ticket, session=session, config=config, now=now).clocks
    acks = _acknowledged(ticket, session=session, now=now)
    steps: list[PlannedStep] = []
    for index, step in enumerate(ladder.steps):
        for clock, start, due, met in _anchors(step, ticket, calendar, events, computed, now):
            run = due if step.any_time else bizcal.next_open(calendar, due)
            ack = next((a for a in acks if a >= start), None)
            ended, why = min(((t, w) for t, w in ((met, "clock met"), (ack, "acknowledged by SMS")) if t is not None),
                             default=(None, ""))
            steps.append(PlannedStep(ladder.name, index, step, clock, start, due, run, ended, why))
    return Plan(ladder, sorted(steps, key=lambda s: (s.run_at, s.index)))


def _acknowledged(ticket: Ticket, *, session: Session, now: datetime) -> list[datetime]:
    """When agents acknowledged the ticket's escalation by SMS (`inbound`), oldest first."""
    statement = (select(EscalationStep.ran_at).where(EscalationStep.ticket_id == ticket.id,
                                                     EscalationStep.ladder == ACK_LADDER, EscalationStep.ran_at <= now)
                 .order_by(col(EscalationStep.ran_at)))
    return list(session.exec(statement))


def _anchors(step: StepConfig, ticket: Ticket, calendar: Calendar, events: list[clockmath.Event],
             computed: list[clockmath.Clock], now: datetime):
    """(clock, cycle start, step due time, met at) for each cycle of the step's clock."""
    if step.clock == "receipt":
        start = bizcal.next_open(calendar, ticket.received_at)
        due = clockmath.offset_due(step.offset, calendar, start, events, now)
        if due is not None:
            yield "receipt", start, due, clockmath.first_reply_or_end([e for e in events if e.at <= now])
        return
    for clock in computed:
        if clock.name == _DUE_CLOCKS[step.clock] and clock.due_at is not None:
            yield step.clock, clock.started_at, clockmath.shifted(step.offset, calendar, clock.due_at), clock.stopped_at
