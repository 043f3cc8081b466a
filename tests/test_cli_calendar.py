"""`mailbridge calendar show`: opening hours and holidays per day, for checking a config."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mailbridge.cli import _register, app

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "mailbridge.example.toml"

_register()


def run(*args: str):
    return CliRunner().invoke(app, [*args, "--config", str(EXAMPLE)])


def test_polish_christmas_week():
    result = run("calendar", "show", "pl-business", "--from", "2026-12-23", "--days", "5")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "calendar pl-business (Europe/Warsaw; holidays: PL)",
        "2026-12-23 wed  09:00-17:00",
        "2026-12-24 thu  closed                       public holiday: Wigilia Bożego Narodzenia",
        "2026-12-25 fri  closed                       public holiday: Boże Narodzenie (pierwszy dzień)",
        "2026-12-26 sat  closed                       public holiday: Boże Narodzenie (drugi dzień)",
        "2026-12-27 sun  closed",
    ]


def test_a_24_7_calendar_shows_the_short_dst_night():
    result = run("calendar", "show", "critical", "--from", "2026-03-29", "--days", "1")
    assert "2026-03-29 sun  00:00-24:00 (23 h)" in result.output


def test_json_with_an_emiliani_monday():
    result = run("calendar", "show", "co-business", "--from", "2026-01-06", "--days", "7", "--json")
    days = json.loads(result.output)["days"]
    assert days[0] == {"date": "2026-01-06", "open": ["09:00-17:00"], "open_minutes": 480,
                       "holiday": None, "reason": "weekly hours"}
    assert days[6]["open"] == [] and days[6]["reason"] == "public holiday"


def test_built_in_calendar_in_a_zone():
    result = run("calendar", "show", "business", "--zone", "Europe/Madrid", "--from", "2026-11-21", "--days", "3")
    assert result.output.splitlines()[1:] == [
        "2026-11-21 sat  closed", "2026-11-22 sun  closed", "2026-11-23 mon  09:00-17:00"]


def test_unknown_calendar_zone_and_date():
    unknown = run("calendar", "show", "nope")
    assert unknown.exit_code == 1 and "no calendar 'nope'" in unknown.output
    zone = run("calendar", "show", "business", "--zone", "Mars/Base")
    assert zone.exit_code == 1 and "unknown time zone 'Mars/Base'" in zone.output
    assert run("calendar", "show", "business", "--from", "20.12.2026").exit_code == 2
