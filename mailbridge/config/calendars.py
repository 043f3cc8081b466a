"""`[calendars.<name>]`: named opening-hour calendars that queues and SLA policies share.

Each table becomes a `bizcal.Calendar`. Two names exist without being written: "business"
(Monday to Friday 09:00–17:00, no holidays) and "24x7" (always open), both in the time zone of
the queue that uses them; a table of the same name replaces the built-in one.
"""

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StrictStr, field_validator, model_validator

from mailbridge.config.checks import check_zone
from mailbridge.config.tables import Table
from mailbridge.sla import bizcal
from mailbridge.sla.bizcal import WEEKDAYS, Block, Calendar, CalendarError

BUILT_IN = ("business", "24x7")
DEFAULT_HOURS = {day: ("09:00-17:00",) for day in WEEKDAYS[:5]}


def _calendar_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", value):
        raise ValueError(f"must be lowercase letters, digits, '-' and '_' (e.g. pl-business): {value!r}")
    return value


CalendarName = Annotated[StrictStr, AfterValidator(_calendar_name)]
ZoneName = Annotated[StrictStr, AfterValidator(check_zone)]


def _day(value: object) -> date:
    # TOML has a date type (2026-12-31 unquoted); a quoted "2026-12-31" is accepted too.
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"not a date like 2026-12-31: {value!r}") from None


def _blocks(texts: tuple[str, ...]) -> tuple[Block, ...]:
    try:
        return bizcal.parse_blocks(texts)
    except CalendarError as error:
        raise ValueError(str(error)) from None


class CalendarConfig(Table):
    """One `[calendars.<name>]` table."""

    zone: ZoneName = "UTC"
    hours: dict[StrictStr, tuple[StrictStr, ...]] = Field(default_factory=lambda: dict(DEFAULT_HOURS))
    country: StrictStr = ""
    subdivision: StrictStr = ""
    language: StrictStr = ""
    closed: tuple[date, ...] = ()
    open: dict[date, tuple[StrictStr, ...]] = Field(default_factory=dict)
    always_open: StrictBool = False

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r}: days are {', '.join(WEEKDAYS)}")
        for texts in value.values():
            _blocks(texts)
        return value

    @field_validator("closed", mode="before")
    @classmethod
    def _closed(cls, value: object) -> object:
        return tuple(_day(item) for item in value) if isinstance(value, list | tuple) else value

    @field_validator("open", mode="before")
    @classmethod
    def _open(cls, value: object) -> object:
        return {_day(key): item for key, item in value.items()} if isinstance(value, dict) else value

    @field_validator("open")
    @classmethod
    def _open_blocks(cls, value: dict[date, tuple[str, ...]]) -> dict[date, tuple[str, ...]]:
        for texts in value.values():
            _blocks(texts)
        return value

    @model_validator(mode="after")
    def _holidays_known(self) -> "CalendarConfig":
        if self.subdivision and not self.country:
            raise ValueError("subdivision needs country")
        if self.country:
            try:
                bizcal.check(self.build("check"))
            except CalendarError as error:
                raise ValueError(str(error)) from None
        return self

    def build(self, name: str) -> Calendar:
        """The `bizcal.Calendar` this table describes."""
        if self.always_open:
            return bizcal.always_open(name, self.zone)
        return Calendar(
            name=name,
            zone=self.zone,
            weekly=tuple(_blocks(self.hours.get(day, ())) for day in WEEKDAYS),
            country=self.country.upper() or None,
            subdivision=self.subdivision or None,
            language=self.language or None,
            closed=frozenset(self.closed),
            extra_open={day: _blocks(texts) for day, texts in self.open.items()},
        )


def built_in(name: str, zone: str) -> Calendar | None:
    """The built-in calendar called `name` in `zone`, if there is one."""
    if name == "business":
        return bizcal.business(name, zone)
    if name == "24x7":
        return bizcal.always_open(name, zone)
    return None


def resolve(calendars: dict[str, CalendarConfig], name: str, zone: str) -> Calendar:
    """The calendar called `name`: a configured one, else a built-in one in `zone`."""
    if name in calendars:
        return calendars[name].build(name)
    found = built_in(name, zone)
    if found is None:
        raise KeyError(name)
    return found


def known(calendars: dict[str, CalendarConfig]) -> tuple[str, ...]:
    """Every calendar name a queue or policy may use."""
    return tuple(sorted(set(calendars) | set(BUILT_IN)))
