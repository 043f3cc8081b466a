"""`[escalation]`: ladders of steps that alert people when a ticket's answer is overdue, and who they are.

A ladder is chosen per ticket like an SLA policy: the first whose `queues`, `priorities`, `types`
and `plans` all match (an empty list matches anything). Each step runs once per ticket (per clock
cycle) at `after` past its `clock` (the receipt, or a response or resolution due time), within
the ladder calendar's business hours unless `any_time`. People are named by role (`owner`,
`agents`, `on_call`, `lead`) or by address; phone numbers are E.164, checked and normalised here.
Without `[[escalation.ladders]]` nothing escalates (the example config ships the Polish table).
"""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr, model_validator

from mailbridge.config.calendars import known
from mailbridge.config.classify import Priority, TicketType
from mailbridge.config.tables import Table
from mailbridge.sla.clockmath import Target, TargetError, parse_target

_EMAIL = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@]+\.[^\s@]+$")
ROLES = ("owner", "agents", "on_call", "lead")
CLOCKS = ("receipt", "first_response_due", "next_response_due", "resolution_due")


def e164(value: str) -> str:
    """`+48 600-100-200` → `+48600100200`; ValueError for anything that is not a possible number."""
    # Imported on first use: only a config with phone numbers (or an SMS command) needs it.
    import phonenumbers

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"not a phone number in international form (like +48 600 100 200): {value!r}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _address(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"not an email address: {value!r}")
    return value.lower()


def _email_target(value: str) -> str:
    return value if value in ROLES else _address(value)


def _sms_target(value: str) -> str:
    """A role, an agent's address (their number from `[escalation.phones]`) or a number."""
    if value in ROLES:
        return value
    if "@" in value:
        return _address(value)
    return e164(value)


def _offset(value: str) -> str:
    try:
        parse_target(value)
    except TargetError as error:
        raise ValueError(str(error).replace("target", "offset")) from None
    return value


Phone = Annotated[StrictStr, AfterValidator(e164)]
Address = Annotated[StrictStr, AfterValidator(_address)]
EmailTarget = Annotated[StrictStr, AfterValidator(_email_target)]
SmsTarget = Annotated[StrictStr, AfterValidator(_sms_target)]
Offset = Annotated[StrictStr, AfterValidator(_offset)]


class StepConfig(Table):
    """One `[[escalation.ladders.steps]]`: when (clock + after) and what (mail, SMS, priority, owner)."""

    clock: Literal["receipt", "first_response_due", "next_response_due", "resolution_due"] = "receipt"
    after: Offset = "0 minutes"
    any_time: StrictBool = False
    email: tuple[EmailTarget, ...] = ()
    sms: tuple[SmsTarget, ...] = ()
    raise_priority: Literal["", "urgent", "critical"] = ""
    reassign: StrictStr = ""

    @model_validator(mode="after")
    def _does_something(self) -> "StepConfig":
        if not (self.email or self.sms or self.raise_priority or self.reassign):
            raise ValueError("a step needs at least one action: email, sms, raise_priority or reassign")
        if self.reassign and self.reassign not in ("on_call", "lead"):
            _address(self.reassign)
        return self

    @property
    def offset(self) -> Target:
        return parse_target(self.after)


class LadderConfig(Table):
    """One `[[escalation.ladders]]`: which tickets it covers, its calendar and its steps in order."""

    name: Annotated[StrictStr, Field(pattern=r"^[a-z0-9-]{1,40}$")]
    queues: tuple[StrictStr, ...] = ()
    priorities: tuple[Priority, ...] = ()
    types: tuple[TicketType, ...] = ()
    plans: tuple[StrictStr, ...] = ()
    calendar: StrictStr = ""
    steps: tuple[StepConfig, ...] = Field(min_length=1)

    def alerts_at_once(self) -> bool:
        """Whether a step alerts someone at receipt, day or night (what a critical acknowledgement promises)."""
        return any(step.clock == "receipt" and step.offset.amount == 0 and step.any_time and (step.email or step.sms)
                   for step in self.steps)

    def matches(self, *, queue: str, priority: str, type_: str, plan: str | None) -> bool:
        return ((not self.queues or queue in self.queues) and (not self.priorities or priority in self.priorities)
                and (not self.types or type_ in self.types) and (not self.plans or (plan or "") in self.plans))


class EscalationSection(Table):
    """`[escalation]`: the ladders, the on-call list and leads, agents' phone numbers, the tick."""

    tick_seconds: StrictInt = Field(default=30, ge=1, le=3600)
    on_call: tuple[Address, ...] = ()
    lead: tuple[Address, ...] = ()
    # Agent address → mobile number in international form; "owner" and addresses in `sms` use it.
    phones: dict[Address, Phone] = Field(default_factory=dict)
    ladders: tuple[LadderConfig, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> "EscalationSection":
        names = [ladder.name for ladder in self.ladders]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"ladder names must be unique: {', '.join(twice)}")
        return self

    def ladder_for(self, *, queue: str, priority: str, type_: str, plan: str | None) -> LadderConfig | None:
        """The first ladder that covers a ticket with these attributes, if any."""
        return next((ladder for ladder in self.ladders
                     if ladder.matches(queue=queue, priority=priority, type_=type_, plan=plan)), None)

    def phone_of(self, address: str | None) -> str | None:
        return self.phones.get(address.lower()) if address else None


def ladder_problems(data: object) -> list[str]:
    """Names the ladders use that do not exist: calendars, queues, and agents' numbers for `sms`.

    Works on the raw tables like `sla.name_conflicts`, so every problem gets its TOML path.
    """
    if not isinstance(data, dict) or not isinstance(data.get("escalation"), dict):
        return []
    section = data["escalation"]
    calendars = data.get("calendars", {})
    calendar_names = known(calendars) if isinstance(calendars, dict) else ()
    queues = data.get("queues") if isinstance(data.get("queues"), list) else []
    queue_names = {q.get("name") for q in queues if isinstance(q, dict)}
    phones = section.get("phones") if isinstance(section.get("phones"), dict) else {}
    phoned = {str(a).lower() for a in phones}
    problems = []
    ladders = section.get("ladders") if isinstance(section.get("ladders"), list) else []
    for index, ladder in enumerate(ladders):
        if not isinstance(ladder, dict):
            continue
        where = f"escalation.ladders[{index}]"
        calendar = ladder.get("calendar")
        if isinstance(calendar, str) and calendar and calendar not in calendar_names:
            problems.append(f"{where}.calendar: no calendar {calendar!r}")
        for name in ladder.get("queues") or []:
            if isinstance(name, str) and name not in queue_names:
                problems.append(f"{where}.queues: no queue {name!r}")
        steps = ladder.get("steps") if isinstance(ladder.get("steps"), list) else []
        for number, step in enumerate(steps):
            for target in (step.get("sms") or []) if isinstance(step, dict) else []:
                if isinstance(target, str) and "@" in target and target.lower() not in phoned:
                    problems.append(f"{where}.steps[{number}].sms: no number for {target!r} in [escalation.phones]")
    return problems
