"""A ticket's SLA clocks from what is stored: its messages and its status log, under its policy.

The computing is `mailbridge.sla.clockmath` (pure); this module gathers the events from the database,
picks the policy and deadline the config gives the ticket, and writes back the due times
that are read by index: `next_due_at` (the earliest due response or resolution clock still
running) and the legal `deadline_at` with its `deadline_warn_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailbridge.sla import bizcal
from mailbridge.sla import present_clocks
from mailbridge.sla import clockmath
from mailbridge.config.derived import derived
from mailbridge.config.models import Config, QueueConfig
from mailbridge.config.sla import queue_calendar, ticket_deadline, ticket_policy
from mailbridge.errors import NotFound
from mailbridge.store import repo, repo_clock
from mailbridge.store.db import Database
from mailbridge.store.models import Ticket


@dataclass(frozen=True, slots=True)
class TicketClocks:
    """The clocks of one ticket as of `now`, with the policy and calendar that gave them."""

    policy: clockmath.Policy | None
    deadline: clockmath.Deadline | None
    clocks: list[clockmath.Clock]

    @property
    def next_due(self) -> datetime | None:
        """The earliest due time of a response or resolution clock that is still running."""
        dues = [c.due_at for c in self.clocks if c.name != "deadline" and c.stopped_at is None and c.due_at]
        return min(dues, default=None)

    @property
    def legal(self) -> clockmath.Clock | None:
        return next((c for c in self.clocks if c.name == "deadline"), None)


def events_of(ticket: Ticket, *, session: Session, opening: clockmath.Event | None = None) -> list[clockmath.Event]:
    """The ticket's clock events: customer and agent mail, and status changes, in time order.

    `opening` is the received time and kind of the message that opens the ticket in this
    transaction: it is then the one event there can be, and nothing needs to be read back.
    """
    if opening is not None:
        return [opening] if opening.kind in repo_clock.MESSAGE_EVENTS else []
    return [clockmath.Event(at, kind) for at, kind in repo_clock.clock_events(ticket.id, session=session)]


def compute(ticket: Ticket, *, session: Session, config: Config, now: datetime,
            opening: clockmath.Event | None = None) -> TicketClocks:
    """The clocks of `ticket` under the config's policy for it, as of `now` (`opening`: see `events_of`)."""
    queue = config.queue(ticket.queue)
    if queue is None:
        return TicketClocks(None, None, [])
    policy = _policy(ticket, queue, config)
    deadline = _deadline(ticket.type, queue, config)
    if policy is None:
        # No policy still gives the deadline its clock; an empty policy has no targets.
        policy_for_clocks = clockmath.Policy("none", _calendar(queue, config))
    else:
        policy_for_clocks = policy
    found = clockmath.clocks(events_of(ticket, session=session, opening=opening), received_at=ticket.received_at,
                       policy=policy_for_clocks, now=now, deadline=deadline)
    return TicketClocks(policy, deadline, found)


def refresh(ticket: Ticket, *, session: Session, config: Config, now: datetime,
            opening: clockmath.Event | None = None) -> TicketClocks:
    """Recompute the ticket's clocks and set the due times that are looked up by index.

    The ticket is one of the session's, whose changes its next flush writes, or (with `opening`,
    see `events_of`) a new one not stored yet, whose INSERT then carries them.
    """
    computed = compute(ticket, session=session, config=config, now=now, opening=opening)
    active = ticket.status in ("new", "open")
    _set(ticket, "next_due_at", computed.next_due if active else None)
    legal = computed.legal
    running = legal is not None and legal.stopped_at is None
    warn_at = legal.warn_at if running else None
    warned = ticket.deadline_warn_at is None and ticket.deadline_at == (legal.due_at if legal else None)
    if warn_at is not None and warn_at <= now and warned:
        # The warning for this same deadline was given: `deadlines.warn_due` empties the time when
        # it mails the agents, and arming it again would only make the next tick claim it for nothing.
        warn_at = None
    _set(ticket, "deadline_at", legal.due_at if running else None)
    _set(ticket, "deadline_warn_at", warn_at)
    _ask_escalation(ticket, config=config, now=now, active=active)
    return computed


def _ask_escalation(ticket: Ticket, *, config: Config, now: datetime, active: bool) -> None:
    """Have the escalation tick look at a changed open ticket now; a ticket not open has nothing to escalate.

    Working out the ladder's steps is the tick's job (it may run them): here a change only asks for
    a look, unless one is asked for already.
    """
    if not config.escalation.ladders or not active:
        _set(ticket, "escalate_at", None)
    elif ticket.escalate_at is None or ticket.escalate_at > now:
        ticket.escalate_at = now


def _set(ticket: Ticket, field: str, value: datetime | None) -> None:
    # Setting a due time to the one it has still marks the ticket changed, and the commit then
    # ran an ORM flush with nothing to write: a reply mostly leaves the due times as they were.
    if getattr(ticket, field) != value:
        setattr(ticket, field, value)


def _policy(ticket: Ticket, queue: QueueConfig, config: Config) -> clockmath.Policy | None:
    # The config's policies, calendars and deadlines are looked up for every message and mail:
    # what they give for the same attributes is made once per config (see config/derived.py).
    # Keyed by the queue's name, which names one queue of a config: hashing the queue's model
    # (every field of it) for each lookup cost more than the rest of the lookup.
    return derived(config, ("policy", queue.name, ticket.priority, ticket.type, ticket.plan),
                   lambda: ticket_policy(config, queue, priority=ticket.priority, type_=ticket.type, plan=ticket.plan))


def _deadline(type_: str, queue: QueueConfig, config: Config) -> clockmath.Deadline | None:
    return derived(config, ("deadline", queue.name, type_), lambda: ticket_deadline(config, queue, type_))


def _calendar(queue: QueueConfig, config: Config) -> bizcal.Calendar:
    return derived(config, ("calendar", queue.name), lambda: queue_calendar(config, queue))


def deemed_received(queue: QueueConfig, received_at: datetime, *, config: Config) -> datetime:
    """When mail received at `received_at` counts as received in the queue's calendar."""
    return clockmath.deemed_receipt(_calendar(queue, config), received_at)


def set_classification(code: str, field: str, value: str, *, db: Database, config: Config,
                       now: datetime) -> tuple[str, str]:
    """An agent sets a ticket's priority or type; the clocks follow. Returns (code, old value)."""
    if field not in ("priority", "type"):
        raise ValueError(f"not a classification field: {field}")
    with db.session() as session:
        ticket = _ticket(code, session=session)
        before = getattr(ticket, field)
        setattr(ticket, field, value)
        ticket.updated_at = now
        session.add(ticket)
        session.flush()
        refresh(ticket, session=session, config=config, now=now)
        return ticket.code, before


def _ticket(code: str, *, session: Session) -> Ticket:
    ticket = repo.ticket_by_code(code.strip().strip("[]"), session=session)
    if ticket is None:
        raise NotFound(f"no ticket {code}")
    return ticket


def counts_from(ticket: Ticket, queue: QueueConfig, *, config: Config) -> datetime | None:
    """When the ticket's response clocks start: the first open instant of its policy's calendar.

    That is the queue's deemed receipt, except under a policy with its own calendar: a critical
    ticket on a 24/7 policy counts from its arrival, at night too, and says so.
    """
    policy = _policy(ticket, queue, config)
    if policy is None:
        return ticket.deemed_received_at
    return clockmath.deemed_receipt(policy.calendar, ticket.received_at)


def mail_times(ticket: Ticket, queue: QueueConfig, language: str, *, config: Config) -> dict[str, object]:
    """`ticket.received`, `ticket.counts_from`, `ticket.answer_by`, `ticket.around_the_clock` and
    `ticket.on_call` for mail templates.

    The times are the clocks' own, as `tickets show` prints them: `counts_from` is when the response
    clock starts ("" when at arrival), `answer_by` when it is due. `around_the_clock` says the
    response clock runs 24/7; `on_call` that the ticket's escalation ladder alerts someone at once.
    """
    start = counts_from(ticket, queue, config=config)
    times: dict[str, object] = dict(present_clocks.mail_times(ticket.received_at, start, ticket.next_due_at,
                                                              ZoneInfo(queue.time_zone), language))
    policy = _policy(ticket, queue, config)
    times["around_the_clock"] = bool(policy and policy.first_response and policy.calendar.always_open)
    times["on_call"] = derived(config, ("on call", queue.name, ticket.priority, ticket.type, ticket.plan),
                               lambda: _alerts_at_once(ticket, queue, config))
    return times


def _alerts_at_once(ticket: Ticket, queue: QueueConfig, config: Config) -> bool:
    ladder = config.escalation.ladder_for(queue=queue.name, priority=ticket.priority, type_=ticket.type,
                                          plan=ticket.plan)
    return bool(ladder and ladder.alerts_at_once())


def spoken_time(when: datetime | None, queue: QueueConfig, language: str) -> str:
    """A time as words of the mail's language in the queue's zone ("" for none)."""
    return present_clocks.spoken(when, ZoneInfo(queue.time_zone), language)


def deadline_times(ticket: Ticket, queue: QueueConfig, language: str, *, config: Config,
                   now: datetime) -> dict[str, str]:
    """`ticket.deadline` and `ticket.deadline_left` (open time left on the deadline's calendar) for templates."""
    if ticket.deadline_at is None:
        return present_clocks.deadline_times(None, timedelta(0), ZoneInfo(queue.time_zone), language)
    deadline = _deadline(ticket.type, queue, config)
    calendar = deadline.calendar if deadline else _calendar(queue, config)
    left = bizcal.business_time_between(calendar, now, ticket.deadline_at) if now < ticket.deadline_at else timedelta(0)
    return present_clocks.deadline_times(ticket.deadline_at, left, ZoneInfo(queue.time_zone), language)


def clock_text(ticket: Ticket, timing: TicketClocks, config: Config) -> list[str]:
    """The lines `tickets show` prints under the conversation: receipt, then every clock."""
    queue = config.queue(ticket.queue)
    zone = ZoneInfo(queue.time_zone if queue else "UTC")
    # A blank line first: these lines follow the conversation.
    start = counts_from(ticket, queue, config=config) if queue else ticket.deemed_received_at
    lines = ["", *present_clocks.receipt_lines(ticket.received_at, start, zone)]
    lines.append(f"priority: {ticket.priority}  type: {ticket.type}  plan: {ticket.plan or '-'}")
    policy = timing.policy.name if timing.policy else None
    return lines + present_clocks.clock_lines(timing.clocks, zone, policy=policy)
