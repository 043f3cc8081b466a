"""SLA clocks from event logs: start at deemed receipt, agent replies meet them, pending pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailbridge.sla import bizcal
from mailbridge.sla.clockmath import Deadline, Event, Policy, Target, TargetError, clocks, parse_target

WARSAW = ZoneInfo("Europe/Warsaw")
PL = bizcal.business("pl", "Europe/Warsaw", "PL")
EMAIL = Policy("email", PL, first_response=parse_target("2 business hours"),
               next_response=parse_target("2 business hours"), resolution=parse_target("3 business days"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=WARSAW).astimezone(UTC)


def by_name(found, name, cycle=1):
    return next(c for c in found if c.name == name and c.cycle == cycle)


@pytest.mark.parametrize(("text", "target", "shown"), [
    ("2 business hours", Target(120, "business_minutes"), "2 business hours"),
    ("30 business minutes", Target(30, "business_minutes"), "30 business minutes"),
    ("1 business day", Target(1, "business_days"), "1 business day"),
    ("15 Business Days", Target(15, "business_days"), "15 business days"),
    ("24 hours", Target(24 * 60, "clock_minutes"), "24 clock hours"),
    ("90 minutes", Target(90, "clock_minutes"), "90 clock minutes"),
])
def test_parse_target(text, target, shown):
    assert parse_target(text) == target
    assert str(target) == shown


@pytest.mark.parametrize("text", ["2h", "two hours", "3 days", "-1 hours", ""])
def test_bad_targets(text):
    with pytest.raises(TargetError):
        parse_target(text)


def test_friday_night_mail_is_due_monday_11_and_a_reply_at_10_30_meets_it():
    received = at("2026-11-20 21:00")
    events = [Event(received, "customer"), Event(at("2026-11-23 10:30"), "agent")]
    first = by_name(clocks(events, received_at=received, policy=EMAIL, now=at("2026-11-23 12:00")), "first_response")
    assert first.started_at == at("2026-11-23 09:00")
    assert first.due_at == at("2026-11-23 11:00")
    assert first.state == "met"
    assert first.elapsed == timedelta(minutes=90)


def test_an_answer_that_sets_the_ticket_pending_at_the_same_instant_still_meets_the_first_response():
    received = at("2026-11-20 21:00")
    answered = at("2026-11-23 10:30")
    events = [Event(received, "customer"), Event(answered, "agent"), Event(answered, "pending")]
    first = by_name(clocks(events, received_at=received, policy=EMAIL, now=at("2026-11-25 12:00")), "first_response")
    assert (first.state, first.due_at, first.stopped_at) == ("met", at("2026-11-23 11:00"), answered)


def test_no_reply_by_the_due_time_is_a_breach():
    received = at("2026-11-20 21:00")
    found = clocks([Event(received, "customer")], received_at=received, policy=EMAIL, now=at("2026-11-23 11:01"))
    assert by_name(found, "first_response").state == "breached"
    late = clocks([Event(received, "customer"), Event(at("2026-11-23 11:30"), "agent")],
                  received_at=received, policy=EMAIL, now=at("2026-11-23 12:00"))
    assert by_name(late, "first_response").state == "breached"


def test_running_clock_before_the_due_time():
    received = at("2026-11-23 09:30")
    first = by_name(clocks([Event(received, "customer")], received_at=received, policy=EMAIL,
                           now=at("2026-11-23 10:00")), "first_response")
    assert (first.state, first.elapsed, first.due_at) == ("running", timedelta(minutes=30), at("2026-11-23 11:30"))


def test_a_clock_paused_across_a_weekend():
    # Pending from Friday 16:00 until the customer answers on Monday 10:00: the hour on Friday,
    # the weekend and Monday's first hour do not count, so 2 hours from Friday 15:00 end Monday 11:00.
    received = at("2026-11-20 15:00")
    events = [Event(received, "customer"), Event(at("2026-11-20 16:00"), "pending"),
              Event(at("2026-11-23 10:00"), "customer")]
    resolution = Policy("r", PL, resolution=parse_target("2 business hours"))
    clock = by_name(clocks(events, received_at=received, policy=resolution, now=at("2026-11-23 10:30")), "resolution")
    assert clock.due_at == at("2026-11-23 11:00")
    assert clock.elapsed == timedelta(minutes=90)
    assert clock.paused == timedelta(hours=2)
    assert [s.kind for s in clock.spans] == ["counted", "paused", "counted"]
    assert clock.state == "running"


def test_a_clock_paused_now_has_no_due_time():
    received = at("2026-11-20 15:00")
    events = [Event(received, "customer"), Event(at("2026-11-20 16:00"), "pending")]
    clock = by_name(clocks(events, received_at=received, policy=EMAIL, now=at("2026-11-23 12:00")), "resolution")
    assert clock.state == "paused"
    assert clock.due_at is None
    assert clock.elapsed == timedelta(hours=1)


def test_clock_hours_on_24_7_across_a_paused_weekend():
    critical = Policy("critical", bizcal.always_open("247", "Europe/Warsaw"), first_response=parse_target("4 hours"))
    received = at("2026-11-20 22:00")
    events = [Event(received, "customer"), Event(at("2026-11-20 23:00"), "pending"),
              Event(at("2026-11-23 08:00"), "open")]
    clock = by_name(clocks(events, received_at=received, policy=critical, now=at("2026-11-23 09:00")), "first_response")
    assert clock.due_at == at("2026-11-23 11:00")
    assert clock.paused == timedelta(hours=57)


def test_next_response_starts_at_a_customer_message_after_an_answer():
    received = at("2026-11-23 09:00")
    events = [Event(received, "customer"), Event(at("2026-11-23 09:30"), "agent"),
              Event(at("2026-11-23 16:30"), "customer"), Event(at("2026-11-23 17:30"), "customer"),
              Event(at("2026-11-24 10:00"), "agent")]
    found = clocks(events, received_at=received, policy=EMAIL, now=at("2026-11-24 12:00"))
    replies = [c for c in found if c.name == "next_response"]
    assert len(replies) == 1  # the second customer message joins the waiting one
    assert replies[0].started_at == at("2026-11-23 16:30")
    assert replies[0].due_at == at("2026-11-24 10:30")
    assert replies[0].state == "met"


def test_customer_follow_ups_before_any_answer_start_no_next_response():
    received = at("2026-11-23 09:00")
    events = [Event(received, "customer"), Event(at("2026-11-23 09:10"), "customer")]
    found = clocks(events, received_at=received, policy=EMAIL, now=at("2026-11-23 10:00"))
    assert [c.name for c in found] == ["first_response", "resolution"]


def test_resolve_stops_clocks_and_reopen_starts_a_new_resolution_cycle():
    received = at("2026-11-23 09:00")
    events = [Event(received, "customer"), Event(at("2026-11-23 10:00"), "agent"),
              Event(at("2026-11-24 12:00"), "resolved"), Event(at("2026-11-27 18:00"), "reopened"),
              Event(at("2026-11-27 18:00"), "customer")]
    found = clocks(events, received_at=received, policy=EMAIL, now=at("2026-11-30 10:00"))
    first_cycle, second_cycle = by_name(found, "resolution"), by_name(found, "resolution", 2)
    assert (first_cycle.state, first_cycle.stopped_at) == ("met", at("2026-11-24 12:00"))
    assert second_cycle.started_at == at("2026-11-30 09:00")
    assert second_cycle.state == "running"
    assert by_name(found, "next_response").started_at == at("2026-11-30 09:00")


def test_resolving_without_a_reply_stops_first_response_without_meeting_it():
    received = at("2026-11-23 09:00")
    events = [Event(received, "customer"), Event(at("2026-11-23 09:30"), "resolved")]
    first = by_name(clocks(events, received_at=received, policy=EMAIL, now=at("2026-11-24 09:00")), "first_response")
    assert first.state == "stopped"


def test_petition_deadline_in_15_business_days_with_a_warning():
    received = at("2026-11-20 21:14")
    deadline = Deadline(15, PL, warn_before=parse_target("2 business days"))
    clock = by_name(clocks([Event(received, "customer"), Event(at("2026-11-27 10:00"), "pending")],
                           received_at=received, policy=EMAIL, now=at("2026-12-01 10:00"), deadline=deadline),
                    "deadline")
    # Deemed Monday 23 November; 15 working days from Tuesday end on Monday 14 December.
    assert clock.due_at == at("2026-12-14 17:00")
    assert clock.warn_at == at("2026-12-10 17:00")
    assert clock.state == "running"  # pending does not stop the law


def test_deadline_warning_in_business_hours():
    received = at("2026-11-23 09:00")
    deadline = Deadline(1, PL, warn_before=parse_target("4 business hours"))
    clock = by_name(clocks([Event(received, "customer")], received_at=received, policy=EMAIL,
                           now=received, deadline=deadline), "deadline")
    assert (clock.due_at, clock.warn_at) == (at("2026-11-24 17:00"), at("2026-11-24 13:00"))
