"""Core statements run on SQLite's own cursor: compiled once, bound by a plan, results typed as SQLAlchemy types them.

SQLAlchemy's execution path (cache key, parameter construction, execution context, result
set-up, events) cost more than SQLite took to run the statement: on the storing worker's path,
about a third of its time. A statement compiled once by SQLAlchemy's compiler keeps its SQL and
its types' bind and result processors; what is left is to put the values in order and call the
cursor. PostgreSQL keeps SQLAlchemy's path: there the round trip to the server is the cost, and
its dialect rewrites batched inserts into multi-row ones.

SQLAlchemy's path is kept wherever the difference could show: an engine with cursor-level
listeners (statement counting in the benchmark, the query-plan test), a statement that needs
compiling per execution (an "expanding" IN list, a Python-side column default), or a batch that
returns rows. An error of the database is raised as SQLAlchemy raises it (`IntegrityError`,
`OperationalError`, each a `DBAPIError` with the driver's exception in `orig`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

# Statements are module constants or built once per shape; the bound keeps a caller that builds
# a new statement per call from growing the cache without end.
PLANS = 512


@dataclass(frozen=True, slots=True)
class _Bind:
    key: str  # the name the caller's parameters use
    name: str  # the compiled name
    required: bool
    value: Any  # the value fixed in the statement, when the caller gives none
    process: Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    binds: tuple[_Bind, ...]
    returns_rows: bool
    # Per column of its rows, the type's result processor; None when no column has one.
    results: tuple[Callable[[Any], Any] | None, ...] | None


class Rows:
    """A statement's rows (tuples), with the few `Result` methods the store uses."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[tuple], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)

    def all(self) -> list[tuple]:
        return list(self.rows)

    def first(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise (exc.NoResultFound if not self.rows else exc.MultipleResultsFound)(
                f"expected one row, the statement gave {len(self.rows)}")
        return self.rows[0][0]

    def scalar_one_or_none(self) -> Any:
        if len(self.rows) > 1:
            raise exc.MultipleResultsFound(f"expected at most one row, the statement gave {len(self.rows)}")
        return self.rows[0][0] if self.rows else None


def run(session: Session, statement, params: Mapping | Sequence[Mapping] | None = None):
    """Run a Core statement on the session's connection, past the ORM's execution path.

    `session.execute` looks for ORM entities in the statement, flushes the session's pending
    changes and fires the ORM's events before it gives the statement to that same connection:
    for the message path's inserts and lookups, whose tables the session never holds objects of
    (messages, participants, references, attachments, codes, raw rows), that cost a third of
    running them. A statement that must see the session's unflushed changes (a ticket's, its
    status log's) goes through `session.execute`. On SQLite the statement then runs on the
    driver's cursor (`execute`): its rows come back as tuples.
    """
    return execute(session.connection(), statement, params)


def execute(connection: Connection, statement, params: Mapping | Sequence[Mapping] | None):
    """Run `statement` with `params` (one mapping, or a list for a batch) in `connection`'s transaction.

    Returns `Rows` where this module runs it, SQLAlchemy's `Result` where SQLAlchemy does.
    """
    many = isinstance(params, list)
    if not _direct(connection) or (many and not params):
        return connection.execute(statement, params)
    keys = tuple(sorted((params[0] if many else params) or ()))
    plan = _plan(connection.dialect, statement, keys, many)
    if plan is None or (many and plan.returns_rows):
        return connection.execute(statement, params)
    values = [_values(plan, row) for row in params] if many else _values(plan, params or {})
    return _run(connection, plan, values, many)


def _direct(connection: Connection) -> bool:
    dispatch = connection.dispatch
    return (connection.dialect.name == "sqlite" and not dispatch.before_cursor_execute
            and not dispatch.after_cursor_execute)


@lru_cache(maxsize=PLANS)
def _plan(dialect: Dialect, statement, keys: tuple[str, ...], many: bool) -> _Plan | None:
    """The statement compiled as SQLAlchemy would for these parameter names; None where it must compile it itself."""
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)
    if (not dialect.positional or "POSTCOMPILE" in compiled.string
            or compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params):
        return None
    binds = tuple(_bind(compiled.binds[name], name, dialect) for name in compiled.positiontup)
    columns = getattr(statement, "exported_columns", ())
    results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
    return _Plan(compiled.string, binds, bool(columns), results if any(results) else None)


def _bind(bind, name: str, dialect: Dialect) -> _Bind:
    value = bind.effective_value if bind.callable is not None else bind.value
    return _Bind(bind.key, name, bind.required, value, bind.type.dialect_impl(dialect).bind_processor(dialect))


def _values(plan: _Plan, params: Mapping) -> tuple:
    values = []
    for bind in plan.binds:
        if bind.key in params:
            value = params[bind.key]
        elif bind.name in params:
            value = params[bind.name]
        elif bind.required:
            raise exc.InvalidRequestError(f"A value is required for bind parameter {bind.key!r}")
        else:
            value = bind.value
        # As SQLAlchemy does, None goes through the processor too (a JSON column writes it as 'null').
        values.append(bind.process(value) if bind.process is not None else value)
    return tuple(values)


def _run(connection: Connection, plan: _Plan, values, many: bool) -> Rows:
    cursor = connection.connection.driver_connection.cursor()
    try:
        if many:
            cursor.executemany(plan.sql, values)
            return Rows([], cursor.rowcount)
        cursor.execute(plan.sql, values)
        rows = cursor.fetchall() if cursor.description is not None else []
        if rows and plan.results is not None:
            rows = [tuple(value if process is None else process(value)
                          for process, value in zip(plan.results, row, strict=True)) for row in rows]
        return Rows(rows, cursor.rowcount)
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(plan.sql, values, error, sqlite3.Error, dialect=connection.dialect) from error
    finally:
        cursor.close()
