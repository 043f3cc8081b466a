"""The database handle: migrations on empty, current and outdated schemas, errors, UTC timestamps."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from serve_support import write_transaction_held
from sqlmodel import SQLModel

from mailbridge.cli.db_cmd import upgrade_database
from mailbridge.errors import DatabaseUnavailable, SchemaOutOfDate
from mailbridge.store import db as store_db
from mailbridge.store.models import RawMessage, Ticket
from mailbridge.store.repo import create_ticket

EXPECTED_TABLES = {
    "alembic_version", "attachment", "blob", "code_counter", "message", "message_ref",
    "participant", "quarantine", "raw_message", "ticket",
    "outbox", "outbox_content", "address_health", "imap_mailbox", "ticket_event", "heartbeat", "escalation_step", "sms",
    "raw_attempt",
}


def _tables(db) -> set[str]:
    with db.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_upgrade_creates_the_schema_on_an_empty_database_and_is_a_no_op_the_second_time(empty_database_url):
    first = upgrade_database(empty_database_url)
    second = upgrade_database(empty_database_url)
    assert first.endswith(f"schema upgraded from empty to {store_db.head_revision()}")
    assert second.endswith(f"schema already at {store_db.head_revision()}, nothing to do")
    db = store_db.connect(empty_database_url)
    assert _tables(db) == EXPECTED_TABLES
    db.dispose()


def test_open_database_creates_the_schema_on_a_fresh_database(empty_database_url):
    db = store_db.open_database(empty_database_url)
    assert store_db.current_revision(db) == store_db.head_revision()
    assert _tables(db) == EXPECTED_TABLES
    db.dispose()


def test_open_database_refuses_a_schema_behind_the_code(empty_database_url):
    db = store_db.connect(empty_database_url)
    store_db.upgrade(db)
    # Pretend the database was migrated by an older mailbridge whose last revision was "base".
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    db.dispose()
    with pytest.raises(SchemaOutOfDate) as caught:
        store_db.open_database(empty_database_url)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"database schema is at an unversioned schema, this mailbridge needs "
        f"{store_db.head_revision()}: run `mailbridge db upgrade`"
    )


def test_open_database_refuses_a_schema_from_a_newer_mailbridge(empty_database_url):
    db = store_db.connect(empty_database_url)
    store_db.upgrade(db)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db.dispose()
    with pytest.raises(SchemaOutOfDate, match="at 9999, which this mailbridge .* does not know"):
        store_db.open_database(empty_database_url)


def test_models_and_migrations_agree(database):
    # A model change without a migration shows up here as a difference, failing the suite.
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_unreachable_postgresql_is_one_clear_line():
    db = store_db.connect("postgresql+psycopg://mailbridge:hunter2@127.0.0.1:1/mailbridge")
    with pytest.raises(DatabaseUnavailable) as caught:
        store_db.current_revision(db)
    message = str(caught.value)
    assert message.startswith("cannot connect to postgresql+psycopg://mailbridge:***@127.0.0.1:1/mailbridge: ")
    assert "hunter2" not in message and "\n" not in message


def test_sqlite_in_a_missing_directory_is_one_clear_line(tmp_path):
    with pytest.raises(DatabaseUnavailable, match="no directory .*missing"):
        store_db.open_database(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}")


def test_a_plain_postgresql_url_uses_psycopg_and_other_databases_are_refused():
    db = store_db.connect("postgresql://mailbridge:hunter2@127.0.0.1:1/mailbridge")
    assert db.engine.dialect.driver == "psycopg"
    assert "hunter2" not in repr(db)
    with pytest.raises(DatabaseUnavailable, match="'mysql://u:\\*\\*\\*@h/db': mailbridge supports sqlite"):
        store_db.connect("mysql://u:pw@h/db")


def test_a_malformed_url_is_one_clear_line():
    with pytest.raises(DatabaseUnavailable, match="is not valid"):
        store_db.connect("not a url")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    db = store_db.open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -store_db.SQLITE_CACHE_KIB
    db.dispose()


def test_timestamps_come_back_aware_in_utc(database):
    warsaw_summer = timezone(timedelta(hours=2))
    sent = datetime(2024, 6, 3, 10, 15, 30, 123456, tzinfo=warsaw_summer)
    with database.session() as session:
        ticket = create_ticket(
            session=session, queue="dynamics", code_prefix="DYN", requester="a@example.com",
            requester_name="A", subject="s", received_at=sent, now=sent,
        )
        ticket_id = ticket.id
    with database.session() as session:
        loaded = session.get(Ticket, ticket_id)
        assert loaded.received_at == sent
        assert loaded.received_at.tzinfo == UTC
        assert loaded.received_at.hour == 8


def test_naive_timestamps_are_refused(database):
    from sqlalchemy.exc import StatementError

    row = RawMessage(sha256="0" * 64, content=b"x", size=1, source="test", received_at=datetime(2024, 1, 1))
    with pytest.raises(StatementError, match="naive datetime"):
        with database.session() as session:
            session.add(row)


_OPEN_SCRIPT = """
import sys, time
from pathlib import Path
from mailbridge.store.db import open_database
print("ready", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.005)
open_database(sys.argv[1]).dispose()
"""


def test_instances_starting_together_on_an_empty_database_create_the_schema_once(empty_database_url, tmp_path):
    go = tmp_path / "go"
    command = [sys.executable, "-c", _OPEN_SCRIPT, empty_database_url, str(go)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    assert [process.stdout.readline().strip() for process in processes] == ["ready"] * 3
    go.touch()
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], errors
    db = store_db.connect(empty_database_url)
    assert store_db.current_revision(db) == store_db.head_revision()
    db.dispose()


def test_a_reader_reads_beside_a_writer_stopped_inside_its_transaction(tmp_path):
    # `mailbridge status` reads this way: a worker hung (or SIGSTOPped) holding its write turn
    # and SQLite's write lock must not make the monitor's check hang with it.
    import threading

    url = f"sqlite:///{tmp_path / 'reader.sqlite3'}"
    writer, other = store_db.open_database(url), store_db.open_database(url)
    try:
        with write_transaction_held(writer, "DELETE FROM ticket"):
            done = []
            reading = threading.Thread(target=lambda: done.append(_count_tickets(other.reader())))
            reading.start()
            reading.join(5)
            assert done == [0], "the reader waited for the writer"
    finally:
        writer.dispose()
        other.dispose()


def _count_tickets(db) -> int:
    with db.session() as session:
        return session.execute(text("SELECT count(*) FROM ticket")).scalar_one()
