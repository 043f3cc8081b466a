"""`[[sla.policies]]` and `[sla.deadlines.<type>]`: response and resolution targets, legal deadlines.

Policies are tried in order; the first whose queues, priorities, types and plans all match the
ticket (an empty list matches anything) gives its targets. Without any `[[sla.policies]]` table
the embedded defaults below apply (the contract's "email answered within 2 business hours",
critical work on 24/7 clock hours); writing one replaces them all. Deadlines are per ticket type.
"""

from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, StrictStr

from mailbridge.sla.bizcal import Calendar
from mailbridge.config.calendars import known, resolve
from mailbridge.config.classify import Priority, TicketType
from mailbridge.config.tables import Table
from mailbridge.sla.clockmath import Deadline, Policy, Target, TargetError, parse_target


def _target(value: str) -> str:
    if value:
        try:
            parse_target(value)
        except TargetError as error:
            raise ValueError(str(error)) from None
    return value


TargetText = Annotated[StrictStr, AfterValidator(_target)]


class PolicyConfig(Table):
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


class DeadlineConfig(Table):
    """One `[sla.deadlines.<type>]` table: a legal answer deadline in business days."""

    days: StrictInt = Field(ge=1, le=366)
    calendar: StrictStr = ""
    warn_before: TargetText = "2 business days"


# Made without validation, like every default (mailbridge.config.tables): building these models'
# validators at import cost every command that loads the config. tests/test_config_tables.py
# checks each default against its validated twin.
DEFAULT_POLICIES = (
    PolicyConfig.model_construct(name="critical", priorities=("critical",), calendar="24x7",
                                 first_response="1 hours", next_response="2 hours", resolution="24 hours"),
    PolicyConfig.model_construct(name="urgent", priorities=("urgent",), first_response="2 business hours",
                                 next_response="2 business hours", resolution="2 business days"),
    PolicyConfig.model_construct(name="email", first_response="2 business hours", next_response="2 business hours"),
)
# Colombia, Ley 1755 de 2015: petitions, complaints and claims are answered in 15 business days.
DEFAULT_DEADLINES = {kind: DeadlineConfig.model_construct(days=15) for kind in ("petition", "complaint", "claim")}


class SlaSection(Table):
    """`[sla]`: the ordered policies, the deadlines by ticket type, and how often `serve` looks at them."""

    # Seconds between two looks of `mailbridge serve` for legal-deadline warnings that are due.
    tick_seconds: StrictInt = Field(default=60, ge=1, le=3600)
    policies: tuple[PolicyConfig, ...] = DEFAULT_POLICIES
    deadlines: dict[TicketType, DeadlineConfig] = Field(default_factory=lambda: dict(DEFAULT_DEADLINES))

    def policy_for(self, *, queue: str, priority: str, type_: str, plan: str | None) -> PolicyConfig | None:
        """The first policy that covers the ticket, if any."""
        return next((p for p in self.policies if p.matches(queue=queue, priority=priority, type_=type_, plan=plan)),
                    None)


def name_problems(config) -> list[str]:
    """`name_conflicts` of a Config built in code (the loader checks the file's tables instead)."""
    return name_conflicts(config.model_dump())


def name_conflicts(data: object) -> list[str]:
    """Calendars and queues named by queues, policies, deadlines and rules that do not exist.

    Works on the raw tables, like `checks.queue_conflicts`, so that a file with other problems
    still gets one line per missing name with its TOML path. A list or table of the wrong shape
    is its own problem, reported by validation: the names in it are not checked here.
    """
    if not isinstance(data, dict):
        return []
    queues = _tables(data.get("queues"))
    calendars = data.get("calendars", {})
    calendar_names = known(calendars) if isinstance(calendars, dict) else None
    # A name that is no string (a list, a table) is validation's to report, and unhashable here.
    queue_names = ({q.get("name") for _, q in queues if isinstance(q.get("name"), str)}
                   if isinstance(data.get("queues"), list) else None)
    sla, classify = _table(data.get("sla")), _table(data.get("classify"))
    problems = []
    for index, queue in queues:
        problems += _calendar(f"queues[{index}].calendar", queue, calendar_names, listed=True)
    for index, policy in _tables(sla.get("policies")):
        problems += _calendar(f"sla.policies[{index}].calendar", policy, calendar_names)
        problems += _queues(f"sla.policies[{index}].queues", policy, queue_names)
    for kind, deadline in _table(sla.get("deadlines")).items():
        problems += _calendar(f"sla.deadlines.{kind}.calendar", _table(deadline), calendar_names)
    for index, rule in _tables(classify.get("rules")):
        problems += _queues(f"classify.rules[{index}].queues", rule, queue_names)
    return problems


def _calendar(where: str, table: dict, names: tuple[str, ...] | None, *, listed: bool = False) -> list[str]:
    name = table.get("calendar")
    if names is None or not isinstance(name, str) or not name or name in names:
        return []
    known_names = f" ({', '.join(names)})" if listed else ""
    return [f"{where}: no calendar {name!r}{known_names}"]


def _queues(where: str, table: dict, names: set | None) -> list[str]:
    listed = table.get("queues")
    if names is None or not isinstance(listed, list | tuple):
        return []
    return [f"{where}: no queue {name!r}" for name in listed if isinstance(name, str) and name not in names]


def _table(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _tables(value: object) -> list[tuple[int, dict]]:
    """The (index, table) pairs of an array of tables; items that are not tables are skipped."""
    if not isinstance(value, list | tuple):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


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
