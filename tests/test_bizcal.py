"""Business-time arithmetic: table tests at every edge (hours, weekends, holidays, DST, year ends)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbridge.sla import bizcal
from mailbridge.sla.bizcal import (
    Block,
    Calendar,
    CalendarError,
    add_business_days,
    add_business_minutes,
    business_minutes_between,
    business_time_between,
    is_open,
    next_open,
    open_intervals,
    parse_block,
    parse_blocks,
)

WARSAW = ZoneInfo("Europe/Warsaw")
MADRID = ZoneInfo("Europe/Madrid")
BOGOTA = ZoneInfo("America/Bogota")

PL = bizcal.business("pl", "Europe/Warsaw", "PL")
MD = bizcal.business("es-md", "Europe/Madrid", "ES", "MD")
CT = bizcal.business("es-ct", "Europe/Madrid", "ES", "CT")
CO = bizcal.business("co", "America/Bogota", "CO")
PL_247 = bizcal.always_open("pl-247", "Europe/Warsaw")
MD_247 = bizcal.always_open("es-247", "Europe/Madrid")


def at(tz: ZoneInfo, text: str) -> datetime:
    """A local wall time ('2026-11-20 16:59') in `tz`, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def utc(tz: ZoneInfo, text: str) -> datetime:
    return at(tz, text).astimezone(UTC)


# Opening hours ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("local", "expected"), [
    ("2026-11-20 08:59", False),
    ("2026-11-20 09:00", True),
    ("2026-11-20 16:59", True),
    ("2026-11-20 16:59:59", True),
    ("2026-11-20 17:00", False),
    ("2026-11-21 12:00", False),  # Saturday
    ("2026-11-22 12:00", False),  # Sunday
    ("2026-11-11 12:00", False),  # Independence Day, a Wednesday
])
def test_is_open_in_warsaw(local, expected):
    assert is_open(PL, at(WARSAW, local)) is expected


@pytest.mark.parametrize(("received", "deemed"), [
    ("2026-11-20 16:59", "2026-11-20 16:59"),   # open: deemed received at once
    ("2026-11-20 17:00", "2026-11-23 09:00"),   # the close is already closed
    ("2026-11-20 21:14", "2026-11-23 09:00"),   # Friday night → Monday
    ("2026-11-21 10:00", "2026-11-23 09:00"),   # Saturday
    ("2026-11-23 07:30", "2026-11-23 09:00"),   # before opening
    ("2026-04-03 18:00", "2026-04-07 09:00"),   # Good Friday evening; Easter Monday is a holiday
    ("2026-04-06 10:00", "2026-04-07 09:00"),   # on Easter Monday itself
    ("2026-06-03 17:30", "2026-06-05 09:00"),   # Corpus Christi (Thursday 4 June 2026)
    ("2025-12-23 17:05", "2025-12-29 09:00"),   # 24 December is a holiday from 2025, then 25, 26, weekend
    ("2026-12-31 17:01", "2027-01-04 09:00"),   # year end: New Year, then a weekend
])
def test_deemed_receipt_in_warsaw(received, deemed):
    assert next_open(PL, at(WARSAW, received)) == utc(WARSAW, deemed)


def test_24_december_follows_the_law_not_only_the_library():
    # The Act of 6 December 2024 made Christmas Eve a public holiday from 2025 on (not in 2024).
    assert is_open(PL, at(WARSAW, "2024-12-24 10:00"))
    for year in (2025, 2026, 2030):  # a Wednesday, a Thursday, a Tuesday
        assert not is_open(PL, at(WARSAW, f"{year}-12-24 10:00"))


@pytest.mark.parametrize(("start", "minutes", "due"), [
    ("2026-11-20 16:59", 1, "2026-11-20 17:00"),     # the last minute ends at the close, not Monday
    ("2026-11-20 16:59", 2, "2026-11-23 09:01"),
    ("2026-11-23 09:00", 120, "2026-11-23 11:00"),   # the email target of the contract
    ("2026-11-20 16:00", 120, "2026-11-23 10:00"),   # across a weekend
    ("2026-11-20 21:00", 120, "2026-11-23 11:00"),   # from a closed instant: counting starts at 09:00
    ("2026-04-03 16:00", 120, "2026-04-07 10:00"),   # Easter Monday skipped (Good Friday is a PL working day)
    ("2026-06-03 16:30", 60, "2026-06-05 09:30"),    # Corpus Christi skipped
    ("2026-12-31 16:30", 60, "2027-01-04 09:30"),    # across the year end
    ("2026-11-23 09:00", 8 * 60 * 5, "2026-11-27 17:00"),  # a working week
    ("2026-03-27 16:00", 120, "2026-03-30 10:00"),   # the March DST weekend changes nothing at 9–17
    ("2026-10-23 16:00", 120, "2026-10-26 10:00"),   # nor the October one
])
def test_add_business_minutes_in_warsaw(start, minutes, due):
    assert add_business_minutes(PL, at(WARSAW, start), minutes) == utc(WARSAW, due)


@pytest.mark.parametrize(("first", "second", "minutes"), [
    ("2026-11-20 16:00", "2026-11-23 10:00", 120),
    ("2026-11-20 17:00", "2026-11-23 09:00", 0),
    ("2026-11-21 00:00", "2026-11-22 23:59", 0),
    ("2026-03-27 16:00", "2026-03-30 10:00", 120),
    ("2026-10-23 16:00", "2026-10-26 10:00", 120),
    ("2026-11-23 10:00", "2026-11-20 16:00", -120),
])
def test_business_minutes_between_in_warsaw(first, second, minutes):
    assert business_minutes_between(PL, at(WARSAW, first), at(WARSAW, second)) == minutes


# Business days ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "count", "due"), [
    ("2026-11-23 09:00", 1, "2026-11-24 17:00"),    # counting starts the day after
    ("2026-11-20 16:00", 1, "2026-11-23 17:00"),    # Friday → Monday's close
    ("2026-11-23 09:00", 15, "2026-12-14 17:00"),   # a petition's 15 days, three weeks
    ("2026-12-21 09:00", 5, "2026-12-30 17:00"),    # 24, 25, 26 December and the weekend skipped
    ("2026-12-30 09:00", 2, "2027-01-04 17:00"),    # 1 January and the weekend skipped
    ("2026-12-30 09:00", 4, "2027-01-07 17:00"),    # ... and Epiphany on 6 January
    ("2026-11-23 09:00", 0, "2026-11-23 09:00"),
])
def test_add_business_days_in_warsaw(start, count, due):
    assert add_business_days(PL, at(WARSAW, start), count) == utc(WARSAW, due)


# Colombia: the Emiliani law moves most holidays to the following Monday ------------------------

@pytest.mark.parametrize(("local", "expected"), [
    ("2026-01-06 10:00", True),    # Epiphany falls on Tuesday 6 January: moved, so a working day
    ("2026-01-12 10:00", False),   # ... to Monday 12 January
    ("2026-03-19 10:00", True),    # Saint Joseph (Thursday), moved
    ("2026-03-23 10:00", False),   # ... to Monday 23 March
    ("2026-06-29 10:00", False),   # Saint Peter and Saint Paul, already a Monday
    ("2026-12-08 10:00", False),   # Immaculate Conception is never moved (a Tuesday)
    ("2026-04-02 10:00", False),   # Maundy Thursday
])
def test_colombian_holidays(local, expected):
    assert is_open(CO, at(BOGOTA, local)) is expected


def test_colombian_friday_to_tuesday_over_an_emiliani_monday():
    assert next_open(CO, at(BOGOTA, "2026-01-09 18:00")) == utc(BOGOTA, "2026-01-13 09:00")
    # A petition deemed received on Friday 9 January: 15 working days from Tuesday the 13th.
    assert add_business_days(CO, at(BOGOTA, "2026-01-09 10:00"), 15) == utc(BOGOTA, "2026-02-02 17:00")


# Spain: regional holidays need the subdivision ------------------------------------------------

@pytest.mark.parametrize(("calendar", "local", "expected"), [
    (CT, "2026-06-24 10:00", False),   # Sant Joan in Catalonia
    (MD, "2026-06-24 10:00", True),    # ... an ordinary Wednesday in Madrid
    (CT, "2026-09-11 10:00", False),   # La Diada
    (MD, "2026-09-11 10:00", True),
    (MD, "2026-04-02 10:00", False),   # Maundy Thursday in Madrid
    (CT, "2026-04-02 10:00", True),    # ... not in Catalonia
    (CT, "2026-04-06 10:00", False),   # Easter Monday in Catalonia
    (MD, "2026-04-06 10:00", True),
    (MD, "2026-12-07 10:00", False),   # Constitution Day moved to Monday in Madrid
])
def test_spanish_regional_holidays(calendar, local, expected):
    assert is_open(calendar, at(MADRID, local)) is expected


# DST for a 24/7 calendar: 24 wall-clock hours are 23 or 25 real hours ---------------------------

@pytest.mark.parametrize("calendar", [PL_247, MD_247])
@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-07-01", 24)])
def test_dst_nights_on_a_24_7_calendar(calendar, day, hours):
    tz = calendar.tz
    start = at(tz, f"{day} 00:00")
    end = at(tz, (date.fromisoformat(day) + timedelta(days=1)).isoformat() + " 00:00")
    assert business_time_between(calendar, start, end) == timedelta(hours=hours)
    # A calendar written as 00:00-24:00 every day agrees with the 24/7 shortcut.
    spelled = Calendar(name="spelled", zone=calendar.zone, weekly=((Block(0, 1440),),) * 7)
    assert business_time_between(spelled, start, end) == timedelta(hours=hours)
    assert open_intervals(spelled, start, end) == [(start.astimezone(UTC), end.astimezone(UTC))]


def test_24_7_adds_real_time_across_the_march_change():
    start = at(WARSAW, "2026-03-28 12:00")
    assert add_business_minutes(PL_247, start, 24 * 60) == utc(WARSAW, "2026-03-29 13:00")
    assert add_business_minutes(PL_247, at(WARSAW, "2026-10-24 12:00"), 24 * 60) == utc(WARSAW, "2026-10-25 11:00")


def test_24_7_is_always_open_even_on_holidays():
    assert is_open(PL_247, at(WARSAW, "2026-12-25 03:00"))
    assert next_open(PL_247, at(WARSAW, "2026-12-25 03:00")) == utc(WARSAW, "2026-12-25 03:00")


def test_a_block_inside_the_dst_gap_is_empty():
    night = Calendar(name="night", zone="Europe/Warsaw", weekly=((Block(120, 180),),) * 7)
    assert bizcal.day_intervals(night, date(2026, 3, 29)) == []
    assert len(bizcal.day_intervals(night, date(2026, 3, 30))) == 1


# Blocks, extra dates ---------------------------------------------------------------------------

SPLIT = Calendar(name="split", zone="Europe/Warsaw",
                 weekly=(parse_blocks(["08:00-12:00", "13:00-17:00"]),) * 5 + ((), ()))
SEAM = Calendar(name="seam", zone="Europe/Warsaw",
                weekly=(parse_blocks(["12:00-17:00", "09:00-12:00"]),) * 5 + ((), ()))
NIGHTS = Calendar(name="nights", zone="Europe/Madrid",
                  weekly=(parse_blocks(["00:00-06:00", "22:00-24:00"]),) * 7)
EXTRA = Calendar(
    name="extra", zone="Europe/Warsaw", weekly=PL.weekly, country="PL", language="pl",
    closed=frozenset({date(2026, 12, 31)}),
    extra_open={date(2026, 11, 21): parse_blocks(["10:00-12:00"]), date(2026, 11, 11): parse_blocks(["09:00-13:00"])},
)


def test_several_blocks_a_day():
    assert not is_open(SPLIT, at(WARSAW, "2026-11-23 12:30"))
    assert next_open(SPLIT, at(WARSAW, "2026-11-23 12:00")) == utc(WARSAW, "2026-11-23 13:00")
    assert add_business_minutes(SPLIT, at(WARSAW, "2026-11-23 11:30"), 60) == utc(WARSAW, "2026-11-23 13:30")


def test_touching_blocks_are_one_opening():
    spans = open_intervals(SEAM, at(WARSAW, "2026-11-23 00:00"), at(WARSAW, "2026-11-24 00:00"))
    assert spans == [(utc(WARSAW, "2026-11-23 09:00"), utc(WARSAW, "2026-11-23 17:00"))]
    nights = open_intervals(NIGHTS, at(MADRID, "2026-11-23 12:00"), at(MADRID, "2026-11-24 12:00"))
    assert nights == [(utc(MADRID, "2026-11-23 22:00"), utc(MADRID, "2026-11-24 06:00"))]


def test_extra_closed_and_open_dates():
    assert not is_open(EXTRA, at(WARSAW, "2026-12-31 10:00"))
    assert is_open(EXTRA, at(WARSAW, "2026-11-21 11:00"))          # an open Saturday morning
    assert is_open(EXTRA, at(WARSAW, "2026-11-11 10:00"))          # open on a holiday by choice
    assert not is_open(EXTRA, at(WARSAW, "2026-11-11 14:00"))
    assert next_open(EXTRA, at(WARSAW, "2026-11-20 18:00")) == utc(WARSAW, "2026-11-21 10:00")
    assert bizcal.day_of(EXTRA, date(2026, 11, 11)).holiday == "Narodowe Święto Niepodległości"


def test_a_calendar_that_never_opens_is_an_error():
    never = Calendar(name="never", zone="Europe/Warsaw")
    with pytest.raises(CalendarError, match="ten years"):
        next_open(never, at(WARSAW, "2026-01-01 00:00"))


@pytest.mark.parametrize("text", ["9-17", "09:00-08:00", "17:00-17:00", "24:00-24:00", "09:60-10:00", "25:00-26:00"])
def test_bad_blocks(text):
    with pytest.raises(CalendarError):
        parse_block(text)


def test_overlapping_blocks_are_refused():
    with pytest.raises(CalendarError, match="overlap"):
        parse_blocks(["09:00-13:00", "12:00-17:00"])


def test_naive_datetimes_are_refused():
    with pytest.raises(CalendarError, match="naive"):
        is_open(PL, datetime(2026, 11, 20, 10, 0))


def test_unknown_zone_and_country():
    with pytest.raises(CalendarError, match="time zone"):
        bizcal.check(Calendar(name="x", zone="Europe/Nowhere"))
    with pytest.raises(CalendarError, match="country"):
        bizcal.check(Calendar(name="x", zone="UTC", country="XX"))


def test_results_are_utc_whatever_the_input_zone():
    due = add_business_minutes(PL, at(BOGOTA, "2026-11-23 03:00"), 30)  # 09:00 in Warsaw
    assert due.tzinfo is UTC
    assert due == utc(WARSAW, "2026-11-23 09:30")


# The host's local time must play no part --------------------------------------------------------

@pytest.mark.skipif(os.environ.get("MAILBRIDGE_TZ_RUN") == "1", reason="already the odd-zone run")
def test_the_same_results_with_the_host_in_an_odd_zone():
    project = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TZ": "Pacific/Chatham", "MAILBRIDGE_TZ_RUN": "1"}
    tests = [str(project / "tests" / name) for name in ("test_bizcal.py", "test_bizcal_properties.py")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
