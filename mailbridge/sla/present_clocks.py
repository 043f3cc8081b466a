"""SLA clocks as text and JSON for `mailbridge tickets show`: target, due, elapsed, paused, state.

Pure: it takes computed clocks and the zone to show times in. Each clock lists its spans
(counted, paused) so that "why is this due then?" has an answer on the screen.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailbridge.sla.clockmath import Clock

_LABELS = {"first_response": "first response", "next_response": "next response",
           "resolution": "resolution", "deadline": "legal deadline"}


def local(when: datetime | None, zone: ZoneInfo) -> str:
    """`Mon 2026-11-23 09:00` in the queue's zone, or `-`."""
    return when.astimezone(zone).strftime("%a %Y-%m-%d %H:%M") if when else "-"


def duration(amount: timedelta) -> str:
    """`1h30m`, `45m`, `2d 3h05m` (days of 24 real hours are rare: only 24/7 clocks reach them)."""
    minutes = int(amount / timedelta(minutes=1))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
    return f"{days}d {text}" if days else text


def receipt_lines(received_at: datetime, deemed_at: datetime | None, zone: ZoneInfo) -> list[str]:
    """When the ticket arrived, and when it counts as received when that differs."""
    lines = [f"received: {local(received_at, zone)} ({zone.key})"]
    if deemed_at and deemed_at != received_at:
        lines.append(f"counts from: {local(deemed_at, zone)} (the next business opening)")
    return lines


def clock_lines(clocks: list[Clock], zone: ZoneInfo, *, policy: str | None) -> list[str]:
    """A heading, then per clock one summary line and its spans, indented."""
    if not clocks:
        return ["clocks: none (no SLA policy or deadline applies)"]
    lines = [f"clocks (policy {policy or 'none'}):"]
    for clock in clocks:
        lines.append("  " + _summary(clock, zone))
        lines += [f"      {span.kind:<7} {local(span.start, zone)} - {local(span.end, zone)}" for span in clock.spans]
    return lines


def clock_json(clock: Clock) -> dict:
    """One clock for scripts: ISO times in UTC, durations in whole minutes."""
    return {
        "name": clock.name,
        "cycle": clock.cycle,
        "target": str(clock.target),
        "calendar": clock.calendar.name,
        "started_at": _iso(clock.started_at),
        "due_at": _iso(clock.due_at),
        "stopped_at": _iso(clock.stopped_at),
        "warn_at": _iso(clock.warn_at),
        "state": clock.state,
        "elapsed_minutes": int(clock.elapsed / timedelta(minutes=1)),
        "paused_minutes": int(clock.paused / timedelta(minutes=1)),
        "spans": [{"kind": s.kind, "start": _iso(s.start), "end": _iso(s.end)} for s in clock.spans],
    }


def _summary(clock: Clock, zone: ZoneInfo) -> str:
    label = _LABELS[clock.name] + (f" #{clock.cycle}" if clock.cycle > 1 else "")
    parts = [f"{label:<16} {clock.state:<8}", f"target {clock.target}", f"due {local(clock.due_at, zone)}",
             f"elapsed {duration(clock.elapsed)}", f"paused {duration(clock.paused)}"]
    if clock.stopped_at:
        parts.append(f"stopped {local(clock.stopped_at, zone)}")
    if clock.warn_at:
        parts.append(f"warning {local(clock.warn_at, zone)}")
    return "  ".join(parts) + f"  [{clock.calendar.name}]"


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


# Times in customer mail -------------------------------------------------------------------------

_WEEKDAYS = {
    "pl": ("poniedziałek", "wtorek", "środa", "czwartek", "piątek", "sobota", "niedziela"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
# Month names by number, not strftime's %b, which follows the host's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FORMATS = {"pl": "%d.%m.%Y %H:%M", "es": "%d/%m/%Y %H:%M", "en": "%d {month} %Y %H:%M"}


def spoken(when: datetime | None, zone: ZoneInfo, language: str) -> str:
    """`20.11.2026 21:14 (piątek)`, `viernes 20/11/2026 21:14` in the queue's zone; "" for no time."""
    if when is None:
        return ""
    language = language if language in _FORMATS else "en"
    moment = when.astimezone(zone)
    text = moment.strftime(_FORMATS[language]).replace("{month}", _MONTHS[moment.month - 1])
    weekday = _WEEKDAYS[language][moment.weekday()]
    # Polish declines weekday names after "od" and "najpóźniej w"; in brackets the plain form reads right.
    return f"{text} ({weekday})" if language == "pl" else f"{weekday} {text}"


def mail_times(received_at: datetime, deemed_at: datetime | None, answer_by: datetime | None, zone: ZoneInfo,
               language: str) -> dict[str, str]:
    """The template variables `ticket.received`, `ticket.counts_from` ("" when the same) and `ticket.answer_by`."""
    differs = deemed_at is not None and deemed_at != received_at
    return {
        "received": spoken(received_at, zone, language),
        "counts_from": spoken(deemed_at, zone, language) if differs else "",
        "answer_by": spoken(answer_by, zone, language),
    }


def deadline_times(deadline_at: datetime | None, left: timedelta, zone: ZoneInfo, language: str) -> dict[str, str]:
    """The template variables `ticket.deadline` and `ticket.deadline_left` (business time), "" for no deadline."""
    if deadline_at is None:
        return {"deadline": "", "deadline_left": ""}
    return {"deadline": spoken(deadline_at, zone, language), "deadline_left": duration(max(left, timedelta(0)))}
