"""`mailbridge calendar show NAME`: a calendar's resolved opening hours and holidays, day by day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

import typer

from mailbridge.sla import bizcal
from mailbridge.cli import SETUP_PANEL, group
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, fail, print_json
from mailbridge.config.calendars import known, resolve

calendar_app = group("calendar", """Check the business-hours calendars the SLA clocks count in.

A calendar (a `[calendars.<name>]` table in the config, or the built-in `business` and `24x7`)
says when a queue is open: weekly hours, a country's public holidays and your own closed days.
SLA clocks only run while the calendar is open, and mail that arrives outside its hours counts
from the next opening. Look at a calendar here before you rely on it.

Examples:

    mailbridge calendar show pl-business --from 2026-12-20
""", SETUP_PANEL)

SHOW_HELP = """Print a calendar's open hours and holidays, day by day.

Use it to check a new calendar, or to see why a clock is paused on a given day. Hours are local
to the calendar's zone; a figure like `(23 h)` on a DST night is the real open time of that day.
With `--json`, one object with the calendar and a `days` list.

Examples:

    mailbridge calendar show pl-business --from 2026-12-20 --days 14
    mailbridge calendar show business --zone Europe/Madrid --json
"""


def _date(value: str | None) -> str | None:
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"not a date like 2026-12-20: {value!r}") from None
    return value


@calendar_app.command("show", help=SHOW_HELP)
def show_command(
    name: Annotated[str, typer.Argument(
        help="A `[calendars.<name>]` table of the config, or `business` / `24x7`.", metavar="NAME",
        show_default=False)],
    start: Annotated[str | None, typer.Option(
        "--from", help="The first day to show (YYYY-MM-DD).", metavar="DATE", callback=_date,
        show_default="today in the calendar's zone")] = None,
    count: Annotated[int, typer.Option("--days", min=1, max=3660, metavar="N", help="How many days to show.")] = 14,
    zone: Annotated[str, typer.Option(
        "--zone", metavar="ZONE", help="The time zone of a built-in calendar (`business`, `24x7`); "
        "a configured calendar has its own.")] = "UTC",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    try:
        calendar = resolve(loaded.calendars, name, zone)
        bizcal.check(calendar)
    except KeyError:
        fail(f"no calendar {name!r} (calendars: {', '.join(known(loaded.calendars))})")
    except bizcal.CalendarError as error:
        fail(str(error))
    first = date.fromisoformat(start) if start else datetime.now(calendar.tz).date()
    days = [(day, _open_time(calendar, day.day)) for day in bizcal.days(calendar, first, count)]
    if as_json:
        print_json({"calendar": name, "zone": calendar.zone, "country": calendar.country,
                    "subdivision": calendar.subdivision, "days": [_day_json(d, t) for d, t in days]})
        return
    typer.echo(_heading(name, calendar))
    for day, open_time in days:
        typer.echo(_day_line(day, open_time))


def _open_time(calendar: bizcal.Calendar, day: date) -> timedelta:
    return sum((end - start for start, end in bizcal.day_intervals(calendar, day)), timedelta(0))


def _heading(name: str, calendar: bizcal.Calendar) -> str:
    holidays = calendar.country + (f"-{calendar.subdivision}" if calendar.subdivision else "") if calendar.country else "none"
    kind = "always open" if calendar.always_open else f"holidays: {holidays}"
    return f"calendar {name} ({calendar.zone}; {kind})"


def _day_line(day: bizcal.Day, open_time: timedelta) -> str:
    hours = ", ".join(str(block) for block in day.blocks) or "closed"
    real = open_time / timedelta(hours=1)
    nominal = sum(block.end - block.start for block in day.blocks) / 60
    # Only a DST night makes the real open time differ from what the blocks say.
    if day.blocks and real != nominal:
        hours += f" ({real:g} h)"
    note = f"{day.reason}: {day.holiday}" if day.holiday else ("" if day.reason == bizcal.WEEKLY else day.reason)
    return f"{day.day.isoformat()} {bizcal.WEEKDAYS[day.day.weekday()]}  {hours:<28} {note}".rstrip()


def _day_json(day: bizcal.Day, open_time: timedelta) -> dict:
    return {
        "date": day.day.isoformat(),
        "open": [str(block) for block in day.blocks],
        "open_minutes": int(open_time / timedelta(minutes=1)),
        "holiday": day.holiday,
        "reason": day.reason,
    }
