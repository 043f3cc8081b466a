"""Finding a ticket for a reply is an indexed lookup: the query plans say so on both databases.

Each test fills the tables with a few thousand rows and fresh statistics (so that PostgreSQL's
planner has a reason to prefer an index over reading a tiny table), asks for the plan of the
statement threading runs, prints it, and asserts that it searches an index rather than scans.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from mailbridge.store import repo_thread
from mailbridge.store.models import Message, MessageRef, Participant, Ticket

ROWS = 1000
NOW = datetime(2026, 2, 2, tzinfo=UTC)


@pytest.fixture
def filled(database):
    tickets = [
        {"code": f"DYN-{n:06d}", "queue": "dynamics", "status": "open", "priority": "routine",
         "type": "question", "requester": f"c{n}@example.com", "requester_name": "", "subject": "s",
         "created_at": NOW, "updated_at": NOW, "received_at": NOW, "reopened_count": 0}
        for n in range(1, ROWS + 1)
    ]
    with database.engine.begin() as connection:
        connection.execute(Ticket.__table__.insert(), tickets)
        ids = [row[0] for row in connection.execute(select(Ticket.id).order_by(Ticket.id))]
        connection.execute(Participant.__table__.insert(), [
            {"ticket_id": t, "address": f"c{n}@example.com", "name": "", "role": "requester"}
            for n, t in enumerate(ids)
        ])
        connection.execute(Message.__table__.insert(), [_message(n, t) for n, t in enumerate(ids)])
        rows = [row[0] for row in connection.execute(select(Message.id).order_by(Message.id))]
        connection.execute(MessageRef.__table__.insert(), [
            {"message_row_id": m, "ref": f"parent-{n}@example.com", "kind": "in-reply-to"}
            for n, m in enumerate(rows)
        ])
        connection.exec_driver_sql("ANALYZE")
    return database


def _message(n: int, ticket_id: int) -> dict:
    return {
        "ticket_id": ticket_id, "message_id": f"m-{n}@example.com", "direction": "in", "kind": "customer",
        "sender": "", "sender_name": "", "recipients": [], "subject": "", "text": "", "reply_text": "",
        "received_at": NOW, "route_rule": "", "route_detail": "", "thread_rule": "", "thread_detail": "",
        "defects": [],
    }


def _plan(database, statement, capsys, label: str) -> str:
    sql = str(statement.compile(dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if database.dialect == "sqlite" else "EXPLAIN "
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql(explain + sql).all()
    plan = "\n".join(str(row[-1]) for row in rows)
    with capsys.disabled():
        print(f"\n[{database.dialect}] plan of {label}:\n  " + plan.replace("\n", "\n  "))
    return plan


def _assert_indexed(database, plan: str, sqlite_index: str, postgres_index: str) -> None:
    if database.dialect == "sqlite":
        # A UNIQUE constraint's index is named by SQLite itself: sqlite_autoindex_<table>_<n>.
        assert re.search(rf"^SEARCH \w+ USING (COVERING )?INDEX {sqlite_index} ", plan, re.M), plan
        assert "SCAN" not in plan, plan
    else:
        assert re.search(rf"(Index Scan|Index Only Scan) using {postgres_index} ", plan) or (
            f"Bitmap Index Scan on {postgres_index} " in plan
        ), plan
        assert "Seq Scan" not in plan, plan


def test_a_stored_message_id_is_found_through_the_unique_index(filled, capsys):
    statement = repo_thread.select_by_message_ids(["m-1234@example.com", "m-7@example.com"])
    plan = _plan(filled, statement, capsys, "stored Message-IDs")
    _assert_indexed(filled, plan, "sqlite_autoindex_message_1", "uq_message_message_id")


def test_messages_naming_a_reference_are_found_through_the_ref_index(filled, capsys):
    statement = repo_thread.select_referencing(["parent-1234@example.com"])
    plan = _plan(filled, statement, capsys, "messages referencing a Message-ID")
    _assert_indexed(filled, plan, "ix_message_ref_ref", "ix_message_ref_ref")


def test_a_ticket_code_is_found_through_the_unique_index(filled, capsys):
    statement = select(Ticket).where(Ticket.code == "DYN-001234")
    plan = _plan(filled, statement, capsys, "ticket by code")
    _assert_indexed(filled, plan, "sqlite_autoindex_ticket_1", "uq_ticket_code")


def test_a_participant_check_uses_the_ticket_address_index(filled, capsys):
    statement = select(Participant.id).where(Participant.ticket_id == 1234, Participant.address == "c1@example.com")
    plan = _plan(filled, statement, capsys, "participant of a ticket")
    _assert_indexed(filled, plan, "sqlite_autoindex_participant_1", "uq_participant_ticket_id_address")


def test_the_one_threading_lookup_uses_both_indexes(filled, capsys):
    statement = repo_thread.select_known(["m-1234@example.com", "parent-7@example.com"])
    plan = _plan(filled, statement, capsys, "stored and referencing Message-IDs in one")
    _assert_indexed(filled, plan, "sqlite_autoindex_message_1", "uq_message_message_id")
    _assert_indexed(filled, plan, "ix_message_ref_ref", "ix_message_ref_ref")
