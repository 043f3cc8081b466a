"""`[[sla.policies]]` and `[sla.deadlines.<type>]`: response and resolution targets, legal deadlines.

Policies are tried in order; the first whose queues, priorities, types and plans all match the
ticket (an empty list matches anything) gives its targets. Without any `[[sla.policies]]` table
the embedded defaults below apply (the contract's "email answered within 2 business hours",
critical work on 24/7 clock hours); writing one replaces them all. Deadlines are per ticket type.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from mailbridge.bizcal import Calendar
from mailbridge.config.calendars import known, resolve
from mailbridge.config.classify import Priority, TicketType
from mailbridge.sla import Deadline, Policy, Target, TargetError, parse_target


def _target(value: str) -> str:
    if value:
        try:
            parse_target(value)
        except TargetError as error:
            raise ValueError(str(error)) from None
    return value


TargetText = Annotated[StrictStr, AfterValidator(_target)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyConfig(_Table):
    """One `[[sla.policies]]` table: which tickets it covers and their targets ("" = none)."""

    name: StrictStr
    queues: tuple[StrictStr, ...] = ()
    priorities: tuple[Priority, ...] = ()
    types: tuple[TicketType, ...] = ()
    plans: tuple[StrictStr, ...] = ()
    calendar: StrictStr = ""
    first_response: TargetText = ""
    next_response: TargetText = ""
    resolution: TargetText = ""

    def matches(self, *, queue: str, priority: str, type_: str, plan: str | None) -> bool:
        """Whether this policy covers a ticket with these attributes."""
        return (
            (not self.queues or queue in self.queues)
            and (not self.priorities or priority in self.priorities)
            and (not self.types or type_ in self.types)
            and (not self.plans or (plan or "") in self.plans)
        )

    def target(self, which: str) -> Target | None:
        """The parsed target of `which` (first_response, next_response, resolution), if set."""
        text = getattr(self, which)
        return parse_target(text) if text else None


class DeadlineConfig(_Table):
    """One `[sla.deadlines.<type>]` table: a legal answer deadline in business days."""

    days: StrictInt = Field(ge=1, le=366)
    calendar: StrictStr = ""
    warn_before: TargetText = "2 business days"


DEFAULT_POLICIES = (
    PolicyConfig(name="critical", priorities=("critical",), calendar="24x7",
                 first_response="1 hours", next_response="2 hours", resolution="24 hours"),
    PolicyConfig(name="urgent", priorities=("urgent",),
                 first_response="2 business hours", next_response="2 business hours", resolution="2 business days"),
    PolicyConfig(name="email", first_response="2 business hours", next_response="2 business hours"),
)
# Colombia, Ley 1755 de 2015: petitions, complaints and claims are answered in 15 business days.
DEFAULT_DEADLINES = {kind: DeadlineConfig(days=15) for kind in ("petition", "complaint", "claim")}


class SlaSection(_Table):
    """`[sla]`: the ordered policies and the deadlines by ticket type."""

    policies: tuple[PolicyConfig, ...] = DEFAULT_POLICIES
    deadlines: dict[TicketType, DeadlineConfig] = Field(default_factory=lambda: dict(DEFAULT_DEADLINES))

    def policy_for(self, *, queue: str, priority: str, type_: str, plan: str | None) -> PolicyConfig | None:
        """The first policy that covers the ticket, if any."""
        return next((p for p in self.policies if p.matches(queue=queue, priority=priority, type_=type_, plan=plan)),
                    None)


def name_problems(config) -> list[str]:
    """Calendars and queues named by queues, policies and deadlines that do not exist."""
    calendars, queues = known(config.calendars), {q.name for q in config.queues}
    problems = []
    for index, queue in enumerate(config.queues):
        if queue.calendar and queue.calendar not in calendars:
            problems.append(f"queues[{index}].calendar: no calendar {queue.calendar!r} ({', '.join(calendars)})")
    for index, policy in enumerate(config.sla.policies):
        if policy.calendar and policy.calendar not in calendars:
            problems.append(f"sla.policies[{index}].calendar: no calendar {policy.calendar!r}")
        for name in policy.queues:
            if name not in queues:
                problems.append(f"sla.policies[{index}].queues: no queue {name!r}")
    for kind, deadline in config.sla.deadlines.items():
        if deadline.calendar and deadline.calendar not in calendars:
            problems.append(f"sla.deadlines.{kind}.calendar: no calendar {deadline.calendar!r}")
    for index, rule in enumerate(config.classify.rules):
        for name in rule.queues:
            if name not in queues:
                problems.append(f"classify.rules[{index}].queues: no queue {name!r}")
    return problems


# From config to the values the pure `sla` module computes with ------------------------------------


def queue_calendar(config, queue) -> Calendar:
    """The calendar of a queue (its `calendar`, else the built-in "business"), in its time zone."""
    return resolve(config.calendars, queue.calendar or "business", queue.time_zone)


def named_calendar(config, name: str, queue) -> Calendar:
    """A policy's or deadline's calendar by name; "" means the queue's own."""
    return resolve(config.calendars, name, queue.time_zone) if name else queue_calendar(config, queue)


def ticket_policy(config, queue, *, priority: str, type_: str, plan: str | None) -> Policy | None:
    """The SLA policy of a ticket with these attributes, on its calendar, or None."""
    found = config.sla.policy_for(queue=queue.name, priority=priority, type_=type_, plan=plan)
    if found is None:
        return None
    return Policy(
        name=found.name,
        calendar=named_calendar(config, found.calendar, queue),
        first_response=found.target("first_response"),
        next_response=found.target("next_response"),
        resolution=found.target("resolution"),
    )


def ticket_deadline(config, queue, type_: str) -> Deadline | None:
    """The legal deadline of a ticket type, on its calendar, or None."""
    found = config.sla.deadlines.get(type_)
    if found is None:
        return None
    warn = parse_target(found.warn_before) if found.warn_before else None
    return Deadline(found.days, named_calendar(config, found.calendar, queue), warn)
