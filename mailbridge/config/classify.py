"""`[[classify.rules]]` and `[[customers]]`: how a new ticket gets its priority, type and plan.

Rules are tried in order and the first one that matches sets the priority (and, separately,
the first matching one that names a type sets the type); a queue's `default_priority` and
`default_type` apply when none matches. Without any `[[classify.rules]]` table the embedded
rules below apply; writing one replaces them all.
"""

from typing import Literal

from pydantic import Field, StrictStr, field_validator, model_validator

from mailbridge.config.names import PRIORITIES, TYPES
from mailbridge.config.tables import Table

__all__ = ["PRIORITIES", "TYPES", "Priority", "TicketType"]

Priority = Literal["routine", "urgent", "critical"]
TicketType = Literal["question", "incident", "petition", "complaint", "claim"]


class RuleConfig(Table):
    """One `[[classify.rules]]` table: conditions (all must hold) and what they set."""

    name: StrictStr = ""
    priority: Priority | None = None
    type: TicketType | None = None
    queues: tuple[StrictStr, ...] = ()
    to: tuple[StrictStr, ...] = ()
    keywords: tuple[StrictStr, ...] = ()
    where: Literal["subject", "body", "any"] = "any"
    languages: tuple[Literal["pl", "es", "en"], ...] = ()
    headers: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    plans: tuple[StrictStr, ...] = ()

    @field_validator("to")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(item.strip().lower() for item in value)

    @model_validator(mode="after")
    def _useful(self) -> "RuleConfig":
        if self.priority is None and self.type is None:
            raise ValueError("a rule must set priority or type")
        if not (self.queues or self.to or self.keywords or self.headers or self.plans or self.languages):
            raise ValueError("a rule needs a condition: queues, to, keywords, headers, plans or languages")
        return self


class CustomerConfig(Table):
    """One `[[customers]]` table: addresses or @domains that share a support plan."""

    name: StrictStr = ""
    match: tuple[StrictStr, ...] = Field(min_length=1)
    plan: StrictStr
    # The customer's personal agent (a benefit of higher plans): owner of their new tickets.
    agent: StrictStr = ""

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        value = value.strip().lower()
        if value and ("@" not in value or any(c.isspace() for c in value)):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("match")
    @classmethod
    def _forms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if "@" not in item:
                raise ValueError(f"write an address (jan@firma.pl) or a domain as @firma.pl: {item!r}")
        return tuple(item.strip().lower() for item in value)


def _rule(name: str, **fields) -> RuleConfig:
    # Made without validation, like every default (mailbridge.config.tables): building the rules'
    # validator at import cost every command that loads the config. tests/test_config_tables.py
    # checks each rule against its validated twin.
    return RuleConfig.model_construct(name=name, **fields)


# The embedded defaults: the words customers of the seed contracts use for a critical failure,
# for urgency, and for the Colombian PQR types (petición, queja, reclamo).
DEFAULT_RULES = (
    _rule("critical-words", priority="critical", type="incident", keywords=(
        "awaria krytyczna", "krytyczna awaria", "critical failure", "critical outage", "system down",
        "falla crítica", "fallo crítico", "caída total")),
    _rule("urgent-words", priority="urgent", where="subject", keywords=(
        "pilne", "pilnie", "urgent", "urgente", "asap")),
    _rule("urgent-header", priority="urgent", headers={"X-Priority": "1"}),
    _rule("petition-words", type="petition", keywords=("derecho de petición", "petición")),
    _rule("complaint-words", type="complaint", keywords=("queja", "complaint", "skarga")),
    _rule("claim-words", type="claim", keywords=("reclamo", "reclamación", "reklamacja")),
    _rule("incident-words", type="incident", keywords=("awaria", "incident", "outage", "falla", "fallo")),
)


class ClassifySection(Table):
    """`[classify]`: the ordered rules."""

    rules: tuple[RuleConfig, ...] = DEFAULT_RULES
