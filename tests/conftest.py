"""Shared test helpers: where the fixtures and the shared real-world corpus live."""

from __future__ import annotations

import os
import shutil
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
# run creates its own database with a random name and drops it at the end; its public schema is
# migrated once and emptied before each test, and tests that need an empty database get a
# schema of their own in it. Without the variable the
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
def postgres_test_database_url():
    """A PostgreSQL database with a random name for this test run, dropped at its end."""
    import uuid

    from sqlalchemy.engine import make_url

    server_url = _postgres_server_url()
    name = f"mailbridge_test_{uuid.uuid4().hex[:12]}"
    _postgres_admin(f'CREATE DATABASE "{name}"', server_url)
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server_url)


@pytest.fixture
def postgres_empty_url(postgres_test_database_url):
    """An empty PostgreSQL schema of its own in the run's database, as a URL (search_path set).

    A schema is as empty as a new database for mailbridge, and creating and dropping one is
    much cheaper than a database (DROP DATABASE forces a checkpoint).
    """
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    schema = f"empty_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_test_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(postgres_test_database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(params=DATABASE_KINDS)
def empty_database_url(request, tmp_path) -> str:
    """The URL of an empty database (no schema at all): a SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}"
    return request.getfixturevalue("postgres_empty_url")


@pytest.fixture(scope="session")
def _postgres_database(postgres_test_database_url):
    from mailbridge.store.db import open_database

    db = open_database(postgres_test_database_url)
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


# --- IMAP (helper "imap"): one throwaway Dovecot per test session; each test adds its own user. --


@pytest.fixture(scope="session")
def dovecot():
    """A running Dovecot (plain IMAP and implicit TLS on loopback); skipped without dovecot-imapd."""
    from dovecot import DOVECOT, Dovecot

    if not DOVECOT.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{DOVECOT} is missing in CI (.ci/run installs dovecot-imapd)")
        pytest.skip(f"{DOVECOT} is not installed (Debian package dovecot-imapd)")
    server = Dovecot(tls=True).start()
    yield server
    server.close()


@pytest.fixture
def own_dovecot(dovecot):
    """A Dovecot of the test's own, for tests that restart it or fail logins (which it penalises)."""
    from dovecot import Dovecot

    server = Dovecot().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory):
    """(cert.pem, key.pem) made once with openssl; openssl missing skips, or fails in CI."""
    from tls import make_certificate

    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is needed for the TLS tests in CI")
        pytest.skip("openssl is not installed")
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def threads_config(database, tmp_path):
    """The config of the conversations in tests/fixtures/threads, on the test's database."""
    from mailbridge.config import load_config

    env = {"MAILBRIDGE_TEST_DATABASE_URL": database.url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}
    return load_config(Path(__file__).resolve().parent / "fixtures" / "threads" / "mailbridge.toml", env=env)
