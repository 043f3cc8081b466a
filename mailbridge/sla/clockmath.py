"""SLA clocks derived from a ticket's event log: first response, next response, resolution, deadline.

Pure: the caller passes the events, the policy, the calendars and `now`; nothing is read from
the database or the clock. The rules (SLA.md):

- every clock starts at the deemed receipt (the first open instant at or after receipt);
- first response is met by the first agent reply; an acknowledgement is not an event here;
- next response starts at a customer message that arrives while no agent has answered the
  customer yet (one clock for several such messages) and is met by the next agent reply;
- resolution runs from deemed receipt to resolve; a reopen starts a new cycle;
- `pending` pauses response and resolution clocks until the customer writes or the ticket is
  opened again; resolve and close stop every clock;
- a legal deadline (business days per ticket type) runs on regardless of pending, and is met by
  resolving the ticket: the answer in substance, not a holding reply.

A business-days target under pauses becomes the business time it spans, then counts like
a minutes target, so a pause pushes it by exactly the open time it covered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from mailbridge.sla import bizcal
from mailbridge.sla.bizcal import Calendar

EventKind = Literal["customer", "agent", "pending", "open", "resolved", "reopened", "closed"]
Unit = Literal["business_minutes", "business_days", "clock_minutes"]
ClockName = Literal["first_response", "next_response", "resolution", "deadline"]

_TARGET = re.compile(r"^\s*(\d+)\s*(business\s+)?(minutes?|hours?|days?)\s*$", re.IGNORECASE)
_ZERO = timedelta(0)


class TargetError(ValueError):
    """A target that cannot be read ("2 business hours" is the form)."""


@dataclass(frozen=True, slots=True)
class Target:
    """How long a clock may run: business minutes, business days, or clock (real) minutes."""

    amount: int
    unit: Unit

    def __str__(self) -> str:
        if self.unit == "business_days":
            return f"{self.amount} business day{'s' * (self.amount != 1)}"
        prefix = "business " if self.unit == "business_minutes" else "clock "
        if self.amount % 60 == 0 and self.amount:
            hours = self.amount // 60
            return f"{hours} {prefix}hour{'s' * (hours != 1)}"
        return f"{self.amount} {prefix}minute{'s' * (self.amount != 1)}"


def parse_target(text: str) -> Target:
    """"2 business hours", "15 business days", "24 hours" (clock), "30 business minutes"."""
    match = _TARGET.match(text)
    if not match:
        raise TargetError(f"not a target like '2 business hours', '15 business days' or '24 hours': {text!r}")
    amount, business, unit = int(match.group(1)), bool(match.group(2)), match.group(3).lower().rstrip("s")
    if unit == "day":
        if not business:
            # Calendar days mean different things to different readers; 24 hours says it exactly.
            raise TargetError(f"write clock days as hours (e.g. '48 hours'), or say 'business days': {text!r}")
        return Target(amount, "business_days")
    minutes = amount * 60 if unit == "hour" else amount
    return Target(minutes, "business_minutes" if business else "clock_minutes")


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to a ticket that clocks care about."""

    at: datetime
    kind: EventKind


@dataclass(frozen=True, slots=True)
class Policy:
    """The targets that apply to one ticket, each optional, all on one calendar."""

    name: str
    calendar: Calendar
    first_response: Target | None = None
    next_response: Target | None = None
    resolution: Target | None = None


@dataclass(frozen=True, slots=True)
class Deadline:
    """A legal answer deadline for a ticket type: business days, with a warning before it."""

    days: int
    calendar: Calendar
    warn_before: Target | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of a clock's life: counted (running), paused (pending)."""

    start: datetime
    end: datetime
    kind: Literal["counted", "paused"]


@dataclass(frozen=True, slots=True)
class Clock:
    """One clock as of `now`: when it started, is due, how much ran, and how it ended."""

    name: ClockName
    target: Target
    calendar: Calendar
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    state: Literal["running", "paused", "met", "breached", "stopped"]
    elapsed: timedelta
    paused: timedelta
    spans: tuple[Span, ...] = field(default=())
    cycle: int = 1
    warn_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Still counting or paused: the clocks an escalation worker looks at."""
        return self.state in ("running", "paused") or (self.state == "breached" and self.stopped_at is None)


# The clocks of one ticket ------------------------------------------------------------------------


def clocks(events: Sequence[Event], *, received_at: datetime, policy: Policy, now: datetime,
           deadline: Deadline | None = None) -> list[Clock]:
    """Every clock of a ticket as of `now`, from its events in time order."""
    events = sorted((e for e in events if e.at <= now), key=lambda e: e.at)
    calendar = policy.calendar
    deemed = bizcal.next_open(calendar, received_at)
    pauses = _pauses(events, now)
    found: list[Clock] = []
    if policy.first_response:
        stop, met = _first_response_stop(events)
        found.append(_clock("first_response", policy.first_response, calendar, deemed, stop, met, pauses, now))
    if policy.next_response:
        found += _next_responses(events, policy.next_response, calendar, pauses, now)
    if policy.resolution:
        found += _resolutions(events, policy.resolution, calendar, deemed, pauses, now)
    if deadline:
        found.append(_deadline(events, deadline, received_at, now))
    return found


def deemed_receipt(calendar: Calendar, received_at: datetime) -> datetime:
    """When a message received at `received_at` counts as received under `calendar`."""
    return bizcal.next_open(calendar, received_at)


def _first_response_stop(events: Sequence[Event]) -> tuple[datetime | None, bool]:
    """The first agent reply meets it; a resolve or close before any reply only stops it.

    An agent reply before the deemed receipt (a Saturday answer) still answers the customer.
    """
    reply = _first(events, ("agent",))
    end = _first(events, ("resolved", "closed"))
    if reply is not None and (end is None or reply <= end):
        return reply, True
    return end, False


def _next_responses(events: Sequence[Event], target: Target, calendar: Calendar,
                    pauses: list[tuple[datetime, datetime]], now: datetime) -> list[Clock]:
    """A clock from each customer message that finds the customer answered, to the next reply."""
    found, answered, started = [], False, None
    for event in events:
        if event.kind == "agent":
            answered = True
            if started is not None:
                found.append(_clock("next_response", target, calendar, started, event.at, True, pauses, now))
                started = None
        elif event.kind == "customer" and answered and started is None:
            started = bizcal.next_open(calendar, event.at)
        elif event.kind in ("resolved", "closed") and started is not None:
            found.append(_clock("next_response", target, calendar, started, event.at, False, pauses, now))
            started = None
    if started is not None:
        found.append(_clock("next_response", target, calendar, started, None, False, pauses, now))
    return found


def _resolutions(events: Sequence[Event], target: Target, calendar: Calendar, deemed: datetime,
                 pauses: list[tuple[datetime, datetime]], now: datetime) -> list[Clock]:
    """One resolution clock per cycle: deemed receipt to resolve, then each reopen to resolve."""
    found, started, cycle = [], deemed, 1
    for event in events:
        if event.kind in ("resolved", "closed") and started is not None:
            found.append(_clock("resolution", target, calendar, started, event.at, True, pauses, now, cycle))
            started = None
        elif event.kind == "reopened" and started is None:
            cycle += 1
            started = bizcal.next_open(calendar, event.at)
    if started is not None:
        found.append(_clock("resolution", target, calendar, started, None, False, pauses, now, cycle))
    return found


def _deadline(events: Sequence[Event], deadline: Deadline, received_at: datetime, now: datetime) -> Clock:
    calendar = deadline.calendar
    start = bizcal.next_open(calendar, received_at)
    due = bizcal.add_business_days(calendar, start, deadline.days)
    stop = _first(events, ("resolved", "closed"))
    end = stop or now
    elapsed = bizcal.business_time_between(calendar, start, max(end, start))
    return Clock(
        name="deadline", target=Target(deadline.days, "business_days"), calendar=calendar,
        started_at=start, due_at=due, stopped_at=stop, state=_state(due, stop, True, now),
        elapsed=elapsed, paused=_ZERO, spans=(Span(start, max(end, start), "counted"),),
        warn_at=_warn_at(deadline, start, due),
    )


def _warn_at(deadline: Deadline, start: datetime, due: datetime) -> datetime | None:
    """The instant `warn_before` ahead of the due time, counted on the deadline's calendar."""
    warn = deadline.warn_before
    if warn is None:
        return None
    if warn.unit == "business_days":
        return bizcal.add_business_days(deadline.calendar, start, max(deadline.days - warn.amount, 0))
    calendar = _calendar_for(warn, deadline.calendar)
    total = bizcal.business_time_between(calendar, start, due)
    return bizcal.add_business_time(calendar, start, max(total - timedelta(minutes=warn.amount), _ZERO))


# One clock ---------------------------------------------------------------------------------------


def _clock(name: ClockName, target: Target, calendar: Calendar, start: datetime, stop: datetime | None,
           met: bool, pauses: list[tuple[datetime, datetime]], now: datetime, cycle: int = 1) -> Clock:
    """A clock from `start` to `stop` (or `now`), paused in `pauses`; `met` says a stop meets it."""
    calendar = _calendar_for(target, calendar)
    # A pause that begins when or after the clock stops is not this clock's: an agent's answer
    # meets the response clock and sets the ticket pending at the same instant.
    pauses = [pause for pause in pauses if stop is None or pause[0] < stop]
    end = max(stop or now, start)
    spans = _spans(start, end, pauses)
    counted = sum((bizcal.business_time_between(calendar, s.start, s.end) for s in spans if s.kind == "counted"), _ZERO)
    paused = sum((bizcal.business_time_between(calendar, s.start, s.end) for s in spans if s.kind == "paused"), _ZERO)
    in_pause = stop is None and any(a <= now < b for a, b in pauses)
    due = None if in_pause else _due(target, calendar, start, pauses)
    return Clock(
        name=name, target=target, calendar=calendar, started_at=start, due_at=due, stopped_at=stop,
        state=_state(due, stop, met, now, in_pause), elapsed=counted, paused=paused,
        spans=tuple(spans), cycle=cycle,
    )


def _state(due: datetime | None, stop: datetime | None, met: bool, now: datetime, in_pause: bool = False) -> str:
    """met or breached once stopped by what meets it; stopped when resolved without a reply."""
    if stop is not None:
        if due is not None and stop > due:
            return "breached"
        return "met" if met else "stopped"
    if in_pause:
        return "paused"
    return "breached" if due is not None and now > due else "running"


def _due(target: Target, calendar: Calendar, start: datetime, pauses: list[tuple[datetime, datetime]]) -> datetime:
    """When `target` of counted time is used up from `start`, skipping the paused stretches."""
    if target.unit == "business_days":
        left = bizcal.business_time_between(calendar, start, bizcal.add_business_days(calendar, start, target.amount))
    else:
        left = timedelta(minutes=target.amount)
    cursor = start
    for pause_start, pause_end in pauses:
        if pause_end <= cursor:
            continue
        candidate = bizcal.add_business_time(calendar, cursor, left)
        if candidate <= pause_start:
            return candidate
        left -= bizcal.business_time_between(calendar, cursor, max(pause_start, cursor))
        cursor = max(pause_end, cursor)
    return bizcal.add_business_time(calendar, cursor, left)


def _spans(start: datetime, end: datetime, pauses: list[tuple[datetime, datetime]]) -> list[Span]:
    spans, cursor = [], start
    for pause_start, pause_end in pauses:
        a, b = max(pause_start, cursor), min(pause_end, end)
        if b <= a:
            continue
        if a > cursor:
            spans.append(Span(cursor, a, "counted"))
        spans.append(Span(a, b, "paused"))
        cursor = b
    if end > cursor or not spans:
        spans.append(Span(cursor, end, "counted"))
    return spans


def _pauses(events: Sequence[Event], now: datetime) -> list[tuple[datetime, datetime]]:
    """The pending stretches: from `pending` to the next customer message, open, resolve or close.

    An unfinished pause runs to far in the future, so that no due time is computed inside it.
    """
    found, since = [], None
    for event in events:
        if event.kind == "pending" and since is None:
            since = event.at
        elif event.kind in ("customer", "open", "resolved", "closed", "reopened") and since is not None:
            found.append((since, event.at))
            since = None
    if since is not None:
        found.append((since, now + timedelta(days=36500)))
    return found


def _first(events: Sequence[Event], kinds: tuple[str, ...]) -> datetime | None:
    return next((e.at for e in events if e.kind in kinds), None)


def _calendar_for(target: Target, calendar: Calendar) -> Calendar:
    # Clock minutes ignore the calendar: the same zone, always open.
    if target.unit == "clock_minutes":
        return bizcal.always_open(f"{calendar.name} (clock)", calendar.zone)
    return calendar


# Offsets from a clock, for escalation ladders -----------------------------------------------------


def offset_due(target: Target, calendar: Calendar, start: datetime, events: Sequence[Event],
               now: datetime) -> datetime | None:
    """When `target` of counted time has run from `start`, pending stretches skipped; None while pending.

    The receipt steps of an escalation ladder count like a response clock: a ticket waiting on its
    customer does not get later by waiting.
    """
    pauses = _pauses(sorted((e for e in events if e.at <= now), key=lambda e: e.at), now)
    if any(a <= now < b for a, b in pauses):
        return None
    return _due(target, _calendar_for(target, calendar), start, pauses)


def shifted(target: Target, calendar: Calendar, start: datetime) -> datetime:
    """`start` plus `target` (business time on `calendar`, or clock time): a step after a due time."""
    if target.unit == "business_days":
        return bizcal.add_business_days(calendar, start, target.amount)
    return bizcal.add_business_time(_calendar_for(target, calendar), start, timedelta(minutes=target.amount))


def first_reply_or_end(events: Sequence[Event]) -> datetime | None:
    """What ends the wait that started at receipt: the first agent reply, or a resolve or close."""
    return _first(events, ("agent", "resolved", "closed"))
