"""The ticket listings of `mailbridge tickets list`, read through the database driver without SQLAlchemy.

Importing SQLAlchemy and the sqlmodel tables costs about 0.3 s, longer than the whole listing
may take (issue 17: 0.25 s). So the two listings are read here with the DB-API driver (stdlib
sqlite3; psycopg for PostgreSQL) and SQL written out once, and they return `TicketRow`s: the
columns of `models.Ticket`, typed as the ORM returns them (aware UTC datetimes on both
databases). `repo.list_tickets` and `repo_clock.overdue` stay the queries of the rest of
mailbridge; tests/test_store_listing.py keeps both answers equal.

Only the plain case is read here: a SQLite file that exists, or a PostgreSQL URL, whose stamped
schema revision is the shipped head (`mailbridge.store.revision`). Anything else (no file, an
empty or out-of-date database, a server that refuses, a URL this module does not take apart)
answers None, and the caller opens the database the usual way, which names the problem.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from mailbridge.store.revision import STAMP_QUERY, one_stamp, shipped_head


class TicketRow(NamedTuple):
    """A `models.Ticket` row as the listings return it (the same names, in the table's order)."""

    id: int
    code: str
    queue: str
    status: str
    priority: str
    type: str
    requester: str
    requester_name: str
    subject: str
    language: str | None
    created_at: datetime
    updated_at: datetime
    received_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    reopened_count: int
    linked_ticket_id: int | None
    deemed_received_at: datetime | None
    plan: str | None
    next_due_at: datetime | None
    deadline_at: datetime | None
    deadline_warn_at: datetime | None
    owner: str | None
    opened_by: str | None
    confirm_due_at: datetime | None
    escalate_at: datetime | None


_COLUMNS = ", ".join(TicketRow._fields)
_TIMES = tuple(i for i, name in enumerate(TicketRow._fields) if name.endswith("_at"))
# The SQL of `repo.list_tickets` and `repo_clock.overdue`, with `:name` parameters (sqlite3's
# named style; psycopg's `%(name)s` is made from it). `{where}` takes the optional filters.
_LIST = f"SELECT {_COLUMNS} FROM ticket{{where}} ORDER BY updated_at DESC, id DESC LIMIT :limit"
_OVERDUE = f"SELECT {_COLUMNS} FROM ticket WHERE next_due_at <= :now{{where}} ORDER BY next_due_at, id LIMIT :limit"
_PARAMETER = re.compile(r":(\w+)")
# How SQLAlchemy's SQLite dialect writes a datetime (UTC, after `UTCDateTime`): text that sorts
# and compares in time order, so `now` must be written the same way.
_SQLITE_TIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
# How long a read waits for a writer's lock, as `mailbridge.store.db` waits.
_SQLITE_BUSY_TIMEOUT_S = 30.0


def list_tickets(url: str, *, queue: str | None = None, status: str | None = None,
                 limit: int = 200) -> list[TicketRow] | None:
    """`repo.list_tickets`: most recently updated first; None when the database is not the plain case."""
    filters = {name: value for name, value in (("queue", queue), ("status", status)) if value is not None}
    where = " WHERE " + " AND ".join(f"{name} = :{name}" for name in filters) if filters else ""
    return _read(url, _LIST.format(where=where), {**filters, "limit": limit})


def overdue(url: str, *, now: datetime, queue: str | None = None, limit: int = 200) -> list[TicketRow] | None:
    """`repo_clock.overdue`: past a due time as of `now`, most overdue first; None when not the plain case."""
    where = " AND queue = :queue" if queue is not None else ""
    parameters = {"now": now, "limit": limit} | ({"queue": queue} if queue is not None else {})
    return _read(url, _OVERDUE.format(where=where), parameters)


def _read(url: str, sql: str, parameters: dict[str, Any]) -> list[TicketRow] | None:
    if url.startswith("sqlite:///"):
        return _read_sqlite(url.removeprefix("sqlite:///"), sql, parameters)
    for scheme in ("postgresql+psycopg://", "postgresql://"):
        if url.startswith(scheme):
            return _read_postgres("postgresql://" + url.removeprefix(scheme), sql, parameters)
    return None


def _read_sqlite(path: str, sql: str, parameters: dict[str, Any]) -> list[TicketRow] | None:
    # A path SQLAlchemy would decode or a URL with options is left to it; so is `:memory:`.
    if not path or path == ":memory:" or any(sign in path for sign in "?%"):
        return None
    try:
        # mode=rw: a file that is not there is not created (SQLAlchemy's path says "no database").
        connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=_SQLITE_BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        connection.execute("PRAGMA query_only = ON")
        if not _schema_is_current(connection.execute(STAMP_QUERY).fetchall()):
            return None
        bound = {name: _sqlite_time(value) if isinstance(value, datetime) else value
                 for name, value in parameters.items()}
        return [_row(values, _time_from_sqlite) for values in connection.execute(sql, bound)]
    except sqlite3.Error:
        return None
    finally:
        connection.close()


def _read_postgres(conninfo: str, sql: str, parameters: dict[str, Any]) -> list[TicketRow] | None:
    # psycopg costs about 0.1 s to import: only PostgreSQL installations pay it.
    import psycopg

    try:
        with psycopg.connect(conninfo) as connection:
            connection.read_only = True
            if not _schema_is_current(connection.execute(STAMP_QUERY).fetchall()):
                return None
            bound = {name: value.astimezone(UTC) if isinstance(value, datetime) else value
                     for name, value in parameters.items()}
            rows = connection.execute(_PARAMETER.sub(r"%(\1)s", sql), bound).fetchall()
            return [_row(values, _time_from_postgres) for values in rows]
    except psycopg.Error:
        return None


def _schema_is_current(stamps: list[Sequence[str]]) -> bool:
    head = shipped_head()
    return head is not None and one_stamp([version for version, in stamps]) == head


def _row(values: Sequence[Any], to_time) -> TicketRow:
    fields = list(values)
    for index in _TIMES:
        fields[index] = to_time(fields[index])
    return TicketRow(*fields)


def _sqlite_time(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return _SQLITE_TIME % {"year": utc.year, "month": utc.month, "day": utc.day, "hour": utc.hour,
                           "minute": utc.minute, "second": utc.second, "microsecond": utc.microsecond}


def _time_from_sqlite(value: str | None) -> datetime | None:
    # What SQLAlchemy's SQLite DATETIME and then `UTCDateTime` make of the stored text.
    return None if value is None else _utc(datetime.fromisoformat(value))


def _time_from_postgres(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
