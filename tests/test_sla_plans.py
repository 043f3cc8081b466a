"""Overdue tickets and due deadline warnings are found through their indexes, not by recomputing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from mailbridge.store import repo_clock
from mailbridge.store.models import Ticket
from test_store_plans import NOW, _assert_indexed, _plan, filled  # noqa: F401 - the fixture is used by name


def _some_due(database) -> None:
    # A handful of running clocks among a thousand tickets, as in a real queue.
    with database.engine.begin() as connection:
        connection.execute(update(Ticket.__table__).where(Ticket.__table__.c.id % 100 == 0)
                           .values(next_due_at=NOW + timedelta(hours=2), deadline_warn_at=NOW + timedelta(days=9)))
        connection.exec_driver_sql("ANALYZE")


def test_overdue_uses_the_next_due_index(filled, capsys):  # noqa: F811
    _some_due(filled)
    statement = repo_clock.overdue_query(NOW + timedelta(hours=3))
    plan = _plan(filled, statement, capsys, "overdue tickets")
    _assert_indexed(filled, plan, "ix_ticket_next_due_at", "ix_ticket_next_due_at")


def test_deadline_warnings_use_their_index(filled, capsys):  # noqa: F811
    _some_due(filled)
    statement = repo_clock.deadline_warnings_query(NOW + timedelta(days=10))
    plan = _plan(filled, statement, capsys, "deadline warnings due")
    _assert_indexed(filled, plan, "ix_ticket_deadline_warn_at", "ix_ticket_deadline_warn_at")
