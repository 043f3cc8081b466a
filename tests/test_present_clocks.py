"""Clocks as people read them: local times in the queue's zone, durations, spans, JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailbridge.sla import bizcal
from mailbridge.sla.present_clocks import clock_json, clock_lines, duration, mail_times, receipt_lines
from mailbridge.sla.clockmath import Event, Policy, clocks, parse_target

WARSAW = ZoneInfo("Europe/Warsaw")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=WARSAW).astimezone(UTC)


def test_duration():
    assert [duration(timedelta(minutes=m)) for m in (0, 45, 90, 24 * 60 + 5)] == ["0m", "45m", "1h30m", "1d 5m"]


def test_receipt_lines_say_both_times_when_they_differ():
    assert receipt_lines(at("2026-11-20 21:00"), at("2026-11-23 09:00"), WARSAW) == [
        "received: Fri 2026-11-20 21:00 (Europe/Warsaw)",
        "counts from: Mon 2026-11-23 09:00 (the next business opening)",
    ]
    assert len(receipt_lines(at("2026-11-23 10:00"), at("2026-11-23 10:00"), WARSAW)) == 1


def test_clock_lines_and_json():
    calendar = bizcal.business("business", "Europe/Warsaw")
    policy = Policy("email", calendar, first_response=parse_target("2 business hours"))
    received = at("2026-11-20 21:00")
    found = clocks([Event(received, "customer"), Event(at("2026-11-23 10:30"), "agent")],
                   received_at=received, policy=policy, now=at("2026-11-23 12:00"))
    lines = clock_lines(found, WARSAW, policy="email")
    assert lines[0] == "clocks (policy email):"
    assert lines[1].split() == ["first", "response", "met", "target", "2", "business", "hours", "due", "Mon",
                                "2026-11-23", "11:00", "elapsed", "1h30m", "paused", "0m", "stopped", "Mon",
                                "2026-11-23", "10:30", "[business]"]
    assert lines[2].split() == ["counted", "Mon", "2026-11-23", "09:00", "-", "Mon", "2026-11-23", "10:30"]
    data = clock_json(found[0])
    assert (data["state"], data["elapsed_minutes"], data["due_at"]) == ("met", 90, "2026-11-23T10:00:00+00:00")
    assert clock_lines([], WARSAW, policy=None) == ["clocks: none (no SLA policy or deadline applies)"]


def test_mail_times_in_three_languages():
    received, deemed, due = at("2026-11-20 21:14"), at("2026-11-23 09:00"), at("2026-11-23 11:00")
    assert mail_times(received, deemed, due, WARSAW, "pl") == {
        "received": "20.11.2026 21:14 (piątek)", "counts_from": "23.11.2026 09:00 (poniedziałek)",
        "answer_by": "23.11.2026 11:00 (poniedziałek)"}
    assert mail_times(received, deemed, None, WARSAW, "es")["counts_from"] == "lunes 23/11/2026 09:00"
    assert mail_times(deemed, deemed, due, WARSAW, "en") == {
        "received": "Monday 23 Nov 2026 09:00", "counts_from": "", "answer_by": "Monday 23 Nov 2026 11:00"}
