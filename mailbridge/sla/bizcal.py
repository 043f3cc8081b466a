"""Business-time arithmetic on a calendar: open or not, next opening, adding and counting open time.

Pure: no database, no config file, no clock — every function takes the calendar and the
instants it works on. Instants are aware datetimes, returned in UTC; local (wall-clock) time
exists only inside, to lay a day's opening blocks onto real time in the calendar's zone. So a
24/7 calendar counts the 23 real hours of the March DST night and the 25 of the October one,
and a 9–17 calendar opens at 09:00 local whatever the offset.

A day's opening is decided in this order: an extra open date (its own blocks) wins; then an
extra closed date or a public holiday closes the day; otherwise the weekday's blocks apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
# A calendar with no open minute in ten years is a configuration mistake, not a long wait.
MAX_CLOSED_DAYS = 3660
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The reason a day has the hours of its weekday (`Day.reason`).
WEEKLY = "weekly hours"
_BLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_MINUTE = timedelta(minutes=1)
_TICK = timedelta(microseconds=1)


class CalendarError(ValueError):
    """A calendar that cannot answer: a bad block, an unknown zone or country, never open."""


@dataclass(frozen=True, slots=True, order=True)
class Block:
    """One opening on a day, in minutes after local midnight; `end` may be 1440 (24:00)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True)
class Calendar:
    """Opening hours in one IANA zone: weekly blocks, holidays by country, extra dates, or 24/7."""

    name: str
    zone: str
    # Seven entries, Monday first; each a sorted tuple of non-overlapping blocks.
    weekly: tuple[tuple[Block, ...], ...] = ((),) * 7
    country: str | None = None
    subdivision: str | None = None
    language: str | None = None
    closed: frozenset[date] = frozenset()
    extra_open: Mapping[date, tuple[Block, ...]] = field(default_factory=dict)
    always_open: bool = False
    # `day_intervals` of each local day asked for, kept: every ticket's clocks ask for the same
    # few days again and again, and a calendar never changes (a changed config makes new ones).
    _intervals: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    # `next_open` of the last few instants asked for: a new ticket's receipt is asked for its
    # deemed receipt, its clocks and its acknowledgement's times, each time on the same calendar.
    _next_opens: dict[datetime, datetime] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.zone)


@dataclass(frozen=True, slots=True)
class Day:
    """One local day of a calendar as `calendar show` prints it."""

    day: date
    blocks: tuple[Block, ...]
    holiday: str | None
    reason: str


def parse_block(text: str) -> Block:
    """"09:00-17:00" → Block(540, 1020); "24:00" is allowed as an end, not as a start."""
    match = _BLOCK.match(text)
    if not match:
        raise CalendarError(f"not an opening block like 09:00-17:00: {text!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start >= MINUTES_PER_DAY or end > MINUTES_PER_DAY:
        raise CalendarError(f"not a time of day in {text!r}")
    if end <= start:
        raise CalendarError(f"block {text!r} ends before it starts (split a night shift at 24:00)")
    return Block(start, end)


def parse_blocks(texts: Sequence[str]) -> tuple[Block, ...]:
    """Several blocks of one day, sorted; overlapping blocks are refused."""
    blocks = tuple(sorted(parse_block(text) for text in texts))
    for before, after in zip(blocks, blocks[1:]):
        if after.start < before.end:
            raise CalendarError(f"blocks {before} and {after} overlap")
    return blocks


def always_open(name: str, zone: str) -> Calendar:
    """A 24/7 calendar in `zone` (for critical work): every instant is business time."""
    return Calendar(name=name, zone=zone, weekly=((Block(0, MINUTES_PER_DAY),),) * 7, always_open=True)


def business(name: str, zone: str, country: str | None = None, subdivision: str | None = None) -> Calendar:
    """Monday to Friday 09:00–17:00 in `zone`, closed on the country's public holidays."""
    nine_to_five = (Block(9 * 60, 17 * 60),)
    return Calendar(name=name, zone=zone, weekly=(nine_to_five,) * 5 + ((), ()),
                    country=country, subdivision=subdivision)


def check(calendar: Calendar) -> None:
    """Raise CalendarError when the zone or the holiday country/subdivision is unknown.

    The country is looked up among the library's codes, which loads no country's rules. A
    subdivision can only be checked by the country's rules, and the library loads all of its
    250 countries' at once (about 0.1 s), so only a calendar that names one pays for that.
    """
    _zone(calendar.zone)
    if calendar.country:
        _known_country(calendar.country)
        if calendar.subdivision:
            holiday_names(calendar.country, calendar.subdivision, date.today().year, calendar.language)


# Days ---------------------------------------------------------------------------------------


def day_of(calendar: Calendar, day: date) -> Day:
    """The blocks a local day is open for, and why (weekday, holiday, closed or open date)."""
    holiday = _holiday(calendar, day)
    if day in calendar.extra_open:
        return Day(day, calendar.extra_open[day], holiday, "extra open date")
    if calendar.always_open:
        return Day(day, calendar.weekly[day.weekday()], holiday, "24/7")
    if day in calendar.closed:
        return Day(day, (), holiday, "closed date")
    if holiday is not None:
        return Day(day, (), holiday, "public holiday")
    return Day(day, calendar.weekly[day.weekday()], None, WEEKLY)


def days(calendar: Calendar, first: date, count: int) -> list[Day]:
    """`count` consecutive local days from `first`."""
    return [day_of(calendar, first + timedelta(days=offset)) for offset in range(count)]


def is_working_day(calendar: Calendar, day: date) -> bool:
    return bool(day_of(calendar, day).blocks)


def day_intervals(calendar: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """A local day's blocks as UTC intervals; a block inside a DST gap may come out empty."""
    known = calendar._intervals.get(day)
    if known is None:
        known = calendar._intervals[day] = tuple(_day_intervals(calendar, day))
    return list(known)


def _day_intervals(calendar: Calendar, day: date) -> Iterator[tuple[datetime, datetime]]:
    tz = calendar.tz
    for block in day_of(calendar, day).blocks:
        start, end = _to_utc(day, block.start, tz), _to_utc(day, block.end, tz)
        if end > start:
            yield start, end


# Instants -----------------------------------------------------------------------------------


def is_open(calendar: Calendar, instant: datetime) -> bool:
    """Whether `instant` falls inside an opening (start included, end excluded)."""
    instant = _utc(instant)
    if calendar.always_open:
        return True
    return any(start <= instant < end for start, end in day_intervals(calendar, _local_date(calendar, instant)))


def next_open(calendar: Calendar, instant: datetime) -> datetime:
    """The first open instant at or after `instant`: the deemed receipt of mail received then."""
    instant = _utc(instant)
    known = calendar._next_opens.get(instant)
    if known is None:
        known, _ = next(open_spans(calendar, instant))
        if len(calendar._next_opens) >= _NEXT_OPENS_KEPT:
            calendar._next_opens.clear()
        calendar._next_opens[instant] = known
    return known


_NEXT_OPENS_KEPT = 64


def add_business_minutes(calendar: Calendar, start: datetime, minutes: float) -> datetime:
    """The instant after `minutes` of open time from `start`; adding 0 returns `start` itself.

    When the last minute ends a block the answer is that block's end (Friday 17:00), not the
    next opening: a target due at the close is due at the close.
    """
    return add_business_time(calendar, start, timedelta(minutes=minutes))


def add_business_time(calendar: Calendar, start: datetime, amount: timedelta) -> datetime:
    """`add_business_minutes` for a timedelta."""
    start = _utc(start)
    if amount < timedelta(0):
        raise CalendarError(f"cannot add a negative business time ({amount})")
    if amount == timedelta(0):
        return start
    if calendar.always_open:
        return start + amount
    left = amount
    for span_start, span_end in open_spans(calendar, start):
        if span_end - span_start >= left:
            return span_start + left
        left -= span_end - span_start
    raise AssertionError("open_spans is endless")


def business_time_between(calendar: Calendar, first: datetime, second: datetime) -> timedelta:
    """Open time from `first` to `second`; negative when `second` is earlier."""
    first, second = _utc(first), _utc(second)
    if second < first:
        return -business_time_between(calendar, second, first)
    if calendar.always_open:
        return second - first
    return sum((end - start for start, end in open_intervals(calendar, first, second)), timedelta(0))


def business_minutes_between(calendar: Calendar, first: datetime, second: datetime) -> int:
    """Whole open minutes from `first` to `second` (rounded toward zero)."""
    return int(business_time_between(calendar, first, second) / _MINUTE)


def add_business_days(calendar: Calendar, start: datetime, count: int) -> datetime:
    """The close of the `count`-th working day after the local date of `start` (SLA.md).

    Counting starts the day after `start` (pass the deemed receipt), so a petition deemed
    received on Monday with 15 days is due at the close of the 15th working day from Tuesday.
    Adding 0 days returns `start`.
    """
    start = _utc(start)
    if count < 0:
        raise CalendarError(f"cannot add a negative number of business days ({count})")
    if count == 0:
        return start
    # An instant at local midnight is the 24:00 close of the day before, so that the result of
    # adding days, when added to again, counts on from the day it closes.
    day, found, closed_run = _local_date(calendar, start - _TICK), 0, 0
    while found < count:
        day += timedelta(days=1)
        spans = day_intervals(calendar, day)
        found += bool(spans)
        closed_run = 0 if spans else closed_run + 1
        if closed_run > MAX_CLOSED_DAYS:
            raise CalendarError(f"calendar {calendar.name!r} has no working day in ten years")
    return spans[-1][1]


def open_spans(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals from `start` on, endlessly, the first clipped to begin no earlier than `start`.

    Blocks that touch (24:00 and the next day's 00:00) are not joined here, since an always
    open stretch would never end; counting does not mind the seam, and `open_intervals` joins.
    """
    start = _utc(start)
    if calendar.always_open:
        yield start, datetime.max.replace(tzinfo=UTC)
        return
    for span_start, span_end in _raw_spans(calendar, start):
        yield max(span_start, start), span_end


def open_intervals(calendar: Calendar, first: datetime, second: datetime) -> list[tuple[datetime, datetime]]:
    """The open intervals between two instants, clipped to them, touching ones joined into one."""
    first, second = _utc(first), _utc(second)
    spans: list[tuple[datetime, datetime]] = []
    for start, end in open_spans(calendar, first):
        if start >= second:
            break
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], min(end, second))
        else:
            spans.append((start, min(end, second)))
    return spans


# Holidays -----------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def holiday_names(country: str, subdivision: str | None, year: int, language: str | None) -> Mapping[date, str]:
    """The public holidays of one country (and region) in one year, by date, cached."""
    # Imported here: a process whose calendars name no country never loads the library.
    import holidays

    _known_country(country)
    try:
        found = holidays.country_holidays(country, subdiv=subdivision, years=year, language=language)
    except (NotImplementedError, KeyError, ValueError) as error:
        # The country is known, so what the library refuses is the subdivision.
        raise CalendarError(f"holidays for {country}/{subdivision}: {error}") from None
    return dict(found.items())


def _known_country(country: str) -> None:
    if country not in _country_codes():
        raise CalendarError(f"the holidays library knows no country {country!r}")


@cache
def _country_codes() -> frozenset[str]:
    """Every country code the holidays library has (ISO alpha-2, alpha-3, aliases like UK)."""
    from holidays.registry import EntityLoader

    return frozenset(EntityLoader.get_country_codes(include_aliases=True))


def _holiday(calendar: Calendar, day: date) -> str | None:
    if not calendar.country:
        return None
    return holiday_names(calendar.country, calendar.subdivision, day.year, calendar.language).get(day)


# Internals ----------------------------------------------------------------------------------


def _raw_spans(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Every day's intervals that end after `start`, day by day from the day of `start`."""
    day, closed_run = _local_date(calendar, start), 0
    while closed_run <= MAX_CLOSED_DAYS:
        spans = [span for span in day_intervals(calendar, day) if span[1] > start]
        closed_run = 0 if spans else closed_run + 1
        yield from spans
        day += timedelta(days=1)
    raise CalendarError(f"calendar {calendar.name!r} is not open once in ten years")


def _to_utc(day: date, minute: int, tz: ZoneInfo) -> datetime:
    # 24:00 is the next day's midnight; a wall time inside a DST gap takes the offset from before
    # the change (fold=0), which puts it just after the gap.
    extra, minute = divmod(minute, MINUTES_PER_DAY)
    wall = datetime.combine(day + timedelta(days=extra), time(minute // 60, minute % 60), tzinfo=tz)
    return wall.astimezone(UTC)


def _local_date(calendar: Calendar, instant: datetime) -> date:
    return instant.astimezone(calendar.tz).date()


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CalendarError(f"naive datetime {instant!r}: business time needs an aware instant")
    return instant.astimezone(UTC)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise CalendarError(f"unknown time zone {name!r} (an IANA name like Europe/Warsaw)") from None


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
