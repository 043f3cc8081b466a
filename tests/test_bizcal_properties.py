"""Properties of business-time arithmetic, over calendars with holidays, split days, nights and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbridge.sla import bizcal
from mailbridge.sla.bizcal import (
    Calendar,
    add_business_days,
    add_business_minutes,
    business_time_between,
    is_open,
    next_open,
    open_intervals,
    parse_blocks,
)

CALENDARS = [
    bizcal.business("pl", "Europe/Warsaw", "PL"),
    bizcal.business("es-ct", "Europe/Madrid", "ES", "CT"),
    bizcal.business("co", "America/Bogota", "CO"),
    bizcal.always_open("pl-247", "Europe/Warsaw"),
    Calendar(name="split", zone="Europe/Madrid",
             weekly=(parse_blocks(["08:00-12:00", "13:00-17:30"]),) * 5 + (parse_blocks(["10:00-14:00"]), ())),
    # Nights that cross midnight and the 02:00-03:00 DST hours of Warsaw.
    Calendar(name="nights", zone="Europe/Warsaw", weekly=(parse_blocks(["00:00-03:30", "22:00-24:00"]),) * 7),
]

calendars = st.sampled_from(CALENDARS)
# 2024 to 2028: several DST changes, year ends and moving holidays; whole seconds are enough.
instants = st.integers(min_value=1_704_067_200, max_value=1_830_297_600).map(
    lambda seconds: datetime.fromtimestamp(seconds, UTC))
minutes = st.integers(min_value=0, max_value=6 * 8 * 60 * 5)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(calendars, instants, minutes, minutes)
def test_adding_a_then_b_is_adding_a_plus_b(calendar, start, a, b):
    stepwise = add_business_minutes(calendar, add_business_minutes(calendar, start, a), b)
    assert stepwise == add_business_minutes(calendar, start, a + b)


@SETTINGS
@given(calendars, instants, minutes)
def test_time_between_inverts_adding(calendar, start, n):
    due = add_business_minutes(calendar, start, n)
    assert business_time_between(calendar, start, due) == timedelta(minutes=n)
    assert due >= start


@SETTINGS
@given(calendars, instants, instants)
def test_time_between_is_additive_and_antisymmetric(calendar, first, second):
    middle = first + (second - first) / 2
    total = business_time_between(calendar, first, second)
    assert total == business_time_between(calendar, first, middle) + business_time_between(calendar, middle, second)
    assert business_time_between(calendar, second, first) == -total


@SETTINGS
@given(calendars, instants)
def test_next_open_is_open_and_nothing_before_it_is(calendar, instant):
    opening = next_open(calendar, instant)
    assert opening >= instant
    assert is_open(calendar, opening)
    assert business_time_between(calendar, instant, opening) == timedelta(0)


@SETTINGS
@given(calendars, instants, st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=30))
def test_adding_days_a_then_b_is_adding_a_plus_b(calendar, start, a, b):
    stepwise = add_business_days(calendar, add_business_days(calendar, start, a), b)
    assert stepwise == add_business_days(calendar, start, a + b)


@SETTINGS
@given(calendars, instants)
def test_open_intervals_are_open_sorted_and_apart(calendar, start):
    spans = open_intervals(calendar, start, start + timedelta(days=9))
    for (a_start, a_end), (b_start, _) in zip(spans, spans[1:]):
        assert a_end < b_start
    for span_start, span_end in spans:
        assert span_start < span_end
        assert is_open(calendar, span_start)
        assert is_open(calendar, span_start + (span_end - span_start) / 2)
