"""Shared test helpers: where the fixtures and the shared real-world corpus live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
MAIL_FIXTURES = PROJECT / "tests" / "fixtures" / "mail"
CORPUS = PROJECT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """../shared/corpus; skipped when a checkout has none, except in CI (env CI set), where it must exist."""
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the shared corpus is missing in CI: {CORPUS}")
        pytest.skip(f"the shared corpus is not present at {CORPUS} (a plain checkout has none)")
    return CORPUS


@pytest.fixture(scope="session")
def mail_fixture():
    """Read one of tests/fixtures/mail/*.eml as bytes, by name."""

    def read(name: str) -> bytes:
        return (MAIL_FIXTURES / name).read_bytes()

    return read


# --- Databases (helper "store"): every database test runs on SQLite and on PostgreSQL. ---------
# PostgreSQL comes from MAILBRIDGE_TEST_POSTGRES_URL (a server URL; `.ci/run` sets it). Each test
# session creates its own databases with random names and drops them at the end; the shared one
# is migrated once and its tables are emptied before each test. Without the variable the
# PostgreSQL half skips, except in CI, where a missing server must fail the run, not pass it.

POSTGRES_URL_ENV = "MAILBRIDGE_TEST_POSTGRES_URL"
DATABASE_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_URL_ENV} is not set, and CI must run the PostgreSQL tests")
    pytest.skip(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to test against")


def _postgres_admin(statement: str, server_url: str) -> None:
    from sqlalchemy import create_engine

    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_database_factory():
    """Makes empty PostgreSQL databases with random names; drops them all at the end."""
    import uuid

    from sqlalchemy.engine import make_url

    server_url = _postgres_server_url()
    created: list[str] = []

    def make() -> str:
        name = f"mailbridge_test_{uuid.uuid4().hex[:12]}"
        _postgres_admin(f'CREATE DATABASE "{name}"', server_url)
        created.append(name)
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in created:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server_url)


@pytest.fixture(params=DATABASE_KINDS)
def empty_database_url(request, tmp_path) -> str:
    """The URL of an empty database (no schema at all): a SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}"
    return request.getfixturevalue("postgres_database_factory")()


@pytest.fixture(scope="session")
def _postgres_database(postgres_database_factory):
    from mailbridge.store.db import open_database

    db = open_database(postgres_database_factory())
    yield db
    db.dispose()


@pytest.fixture(params=DATABASE_KINDS)
def database(request, tmp_path):
    """An open `Database` at the current schema with empty tables: SQLite file or PostgreSQL."""
    import shutil

    from mailbridge.store.db import open_database

    if request.param == "postgresql":
        db = request.getfixturevalue("_postgres_database")
        _empty_tables(db)
        yield db
        return
    # Migrating takes longer than the average test: copy a file migrated once per session.
    path = tmp_path / "mailbridge.sqlite3"
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
    db = open_database(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    from mailbridge.store.db import open_database

    path = tmp_path_factory.mktemp("sqlite-template") / "mailbridge.sqlite3"
    # Disposing closes the last connection, which checkpoints the WAL into the main file.
    open_database(f"sqlite:///{path}").dispose()
    return path


def _empty_tables(db) -> None:
    from sqlmodel import SQLModel

    # DELETE is much faster than TRUNCATE on tables this small; ids are not reset, so tests
    # must not assume them (ticket codes do restart: their counter row is deleted too).
    with db.engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())
