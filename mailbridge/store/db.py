"""The database handle: engine and sessions from a URL, SQLite tuning, and schema migrations."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import SessionTransaction, sessionmaker
from sqlmodel import Session, create_engine

from mailbridge.errors import DatabaseUnavailable, SchemaOutOfDate
from mailbridge.store.revision import shipped_head, stamped
from mailbridge.store.turns import WriterTurns

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

# alembic is imported only by the functions that look at the schema: the processing worker
# process never does, and alembic (with mako) is about 10 MB of every process that imports it.

# How long a SQLite writer waits for another one (another process ingesting) before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLite's page cache per connection, in KiB (see `_sqlite_on_connect`).
SQLITE_CACHE_KIB = 8 * 1024
# Work done beside a commit (`Database.session`): called with `committing()`, it stops when that is False.
Meanwhile = Callable[[Callable[[], bool]], None]


@dataclass
class Database:
    """An engine and its session factory; `session()` is the one way code gets a transaction."""

    engine: Engine
    url: str = field(repr=False)  # may hold a password; the engine's repr masks it
    # Only reads (see `reader`): no write turn, and on SQLite a deferred BEGIN.
    reading: bool = False

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        # Every SQLite transaction takes the database's write lock at BEGIN (see
        # `_sqlite_on_begin`): the threads of this process take turns for it (see WriterTurns).
        writes = self.dialect == "sqlite" and not self.reading
        self._turns = WriterTurns(_lock_file(self.engine)) if writes else None

    def reader(self) -> Database:
        """This database for reads alone, which never wait for a writer.

        `mailbridge status` must answer while a worker hangs, even one stopped inside its
        transaction: a writer's turn (and SQLite's write lock) would wait for it without end. In
        WAL mode a deferred transaction reads the last committed state beside any writer.
        Dispose of the database it came from, not of this one (they share the engine's pool).
        """
        return Database(self.engine.execution_options(**{_READER: True}), self.url, reading=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, urgent: bool = False, meanwhile: Meanwhile | None = None) -> Iterator[Session]:
        """A session committed when the block ends normally and rolled back when it raises.

        `urgent`: someone is waiting for this commit (an SMTP client for its 250), so on SQLite
        it goes before other writers of this process that are waiting for their turn.
        `meanwhile(committing)`: work done in this thread while the commit runs in another; it
        should stop once `committing()` is False (see `_commit_beside`).
        """
        turn = self._turns.turn(urgent=urgent) if self._turns is not None else nullcontext()
        with turn, self._sessions() as session:
            if meanwhile is None:
                with session.begin():
                    yield session
                return
            transaction = session.begin()
            try:
                yield session
            except BaseException:
                transaction.rollback()
                raise
            _commit_beside(transaction, meanwhile)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._turns is not None:
            self._turns.close()


def _commit_beside(transaction: SessionTransaction, meanwhile: Meanwhile) -> None:
    """Commit in a thread of its own while `meanwhile` works in this one; raises what the commit raised.

    A synced commit spends most of its time waiting for the disk with the GIL released (4 ms
    for a group of the worker's 25 messages): time this process can use for the next group's
    parse (issue 17). The transaction is not touched by this thread until the commit is over.
    """
    failed: list[BaseException] = []

    def commit() -> None:
        try:
            # The transaction's own exit, as at the end of `with session.begin()`: a commit, and
            # a rollback when the commit fails (a deferred constraint leaves SQLite's open).
            with transaction:
                pass
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread below
            failed.append(error)

    committer = threading.Thread(target=commit, name="commit")
    committer.start()
    try:
        meanwhile(committer.is_alive)
    finally:
        committer.join()
    if failed:
        raise failed[0]


def connect(url: str) -> Database:
    """A `Database` for `url` without looking at its schema (migrations and tests use this)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(f"database URL {url!r} is not valid: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return Database(_plain_savepoints(_sqlite_engine(url)), url)
    if backend != "postgresql":
        raise DatabaseUnavailable(
            f"database URL {parsed.render_as_string(hide_password=True)!r}: mailbridge supports "
            "sqlite:///PATH and postgresql+psycopg://USER:PASSWORD@HOST/DB"
        )
    # psycopg (version 3) is the driver we ship with; a plain postgresql:// URL means it too.
    engine = create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    return Database(_plain_savepoints(engine), url)


def _plain_savepoints(engine: Engine) -> Engine:
    """The engine's dialect writes SAVEPOINT, RELEASE and ROLLBACK TO as plain SQL text.

    SQLAlchemy's own `do_savepoint` (and the other two) build a new clause every time, whose
    cache key is made and which is compiled anew (it is not cached), and the worker takes a
    savepoint per message. The text goes through `exec_driver_sql`, so the engine's events
    (`before_cursor_execute`) still see it. The names are SQLAlchemy's (`sa_savepoint_<n>`).
    """
    dialect = engine.dialect
    quote = dialect.identifier_preparer.quote
    dialect.do_savepoint = lambda connection, name: connection.exec_driver_sql(f"SAVEPOINT {quote(name)}")
    dialect.do_release_savepoint = \
        lambda connection, name: connection.exec_driver_sql(f"RELEASE SAVEPOINT {quote(name)}")
    dialect.do_rollback_to_savepoint = \
        lambda connection, name: connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {quote(name)}")
    return engine


def _sqlite_engine(url: str) -> Engine:
    if sqlite3.sqlite_version_info < (3, 35):
        # Ticket codes and idempotent inserts rely on RETURNING, which SQLite has since 3.35.
        raise DatabaseUnavailable(f"SQLite {sqlite3.sqlite_version} is too old: mailbridge needs 3.35 or newer")
    _ensure_sqlite_directory(url)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _lock_file(engine: Engine) -> Path | None:
    """The file whose lock the processes writing to a SQLite database take turns at (see WriterTurns)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().with_name(Path(database).name + "-turn")


def _ensure_sqlite_directory(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        directory = Path(database).expanduser().parent
        if not directory.is_dir():
            raise DatabaseUnavailable(f"cannot open SQLite database {database}: no directory {directory}")
        _create_private(Path(database).expanduser())


def _create_private(path: Path) -> None:
    """Create a new database file 0600 whatever the umask (SQLite gives its -wal and -shm the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create SQLite database {path}: {exc.strerror or exc}") from None


# The execution option that marks a reader's engine (`Database.reader`).
_READER = "mailbridge_reader"


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # The driver's own transaction handling is switched off so that `_sqlite_on_begin` decides
    # how a transaction starts (the SQLAlchemy recipe for SQLite).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one process writes. synchronous=FULL (not NORMAL) because
    # a commit here is what lets us answer 250 to the sender's MTA: with NORMAL in WAL mode a
    # power cut can undo the last commits, and the MTA, already answered, would not resend.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A larger page cache than SQLite's 2 MiB: a group of the worker's messages dirties some
    # 3 MB of pages, and with 2 MiB SQLite wrote pages to the WAL before the commit (and again
    # at it) and read evicted ones back from it (issue 17: 26 read and write calls fewer per
    # message, of 124). The cache takes memory only as pages are used, up to this per connection.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def _sqlite_on_begin(connection) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is locked"
    # when another process wrote in between (busy_timeout cannot help a snapshot upgrade).
    # Taking the write lock at BEGIN makes concurrent ingesters wait their turn instead. A
    # reader (`Database.reader`) never writes, and must not wait for a writer.
    reader = connection.get_execution_options().get(_READER, False)
    connection.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(resources.files("mailbridge.store") / "migrations"))
    return config


@cache
def _script_directory() -> ScriptDirectory:
    # The migration scripts ship with the code, so reading them once per process is enough.
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The schema revision this mailbridge's code expects."""
    head = _script_directory().get_current_head()
    assert head is not None, "the migrations directory has no revisions"
    return head


def current_revision(db: Database) -> str | None:
    """The revision stamped in the database, or None when it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    # Only read, so through the reader (see `_check_schema`): `check-config --connect` asks too.
    with _checked_connection(db.reader()) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the schema to `revision`; returns (revision before, revision after)."""
    from alembic.runtime.migration import MigrationContext

    with _migration_transaction(db) as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        _run_migrations(connection, revision)
        return before, MigrationContext.configure(connection).get_current_revision()


def open_database(url: str) -> Database:
    """Connect, create the schema on an empty database, and refuse a schema that is behind."""
    db = connect(url)
    try:
        _check_schema(db)
    except Exception:
        db.dispose()
        raise
    return db


def _check_schema(db: Database) -> None:
    # Nearly always the schema is current: that is found without importing alembic (see
    # `mailbridge.store.revision`); alembic looks at every other case.
    head = shipped_head()
    # Only read, so through the reader: a command that only reads must not wait at this look
    # for a writer (a worker hung inside its transaction holds SQLite's write lock).
    with _checked_connection(db.reader()) as connection:
        if head is not None and stamped(connection) == head:
            return
    current, head = current_revision(db), head_revision()
    if current == head:
        return
    if current is None and _create_if_empty(db):
        return
    current = current_revision(db)
    if current == head:
        return  # another instance created the schema while we looked
    shown = current or "an unversioned schema"
    if current is not None and current not in _known_revisions():
        raise SchemaOutOfDate(
            f"database schema is at {shown}, which this mailbridge (at {head}) does not know: "
            "it was upgraded by a newer mailbridge"
        )
    raise SchemaOutOfDate(
        f"database schema is at {shown}, this mailbridge needs {head}: run `mailbridge db upgrade`"
    )


def _create_if_empty(db: Database) -> bool:
    """Create the schema if the database is still empty once we hold the migration lock."""
    from alembic.runtime.migration import MigrationContext

    with _migration_transaction(db) as connection:
        if MigrationContext.configure(connection).get_current_revision() is not None:
            return False
        if inspect(connection).get_table_names():
            return False
        _run_migrations(connection, "head")
        return True


# Alembic's `context` is one module-level object, so two threads of one process must not run
# migrations at the same time; other processes are kept out by the database lock below.
_ALEMBIC_IN_PROCESS = threading.Lock()
_POSTGRES_MIGRATION_LOCK_KEY = 0x6D61696C  # "mail"


@contextmanager
def _migration_transaction(db: Database):
    """A transaction holding the database-wide migration lock, so instances migrate one by one.

    SQLite transactions here begin IMMEDIATE, which already excludes every other writer; on
    PostgreSQL a transaction-scoped advisory lock does it. Whoever waited then sees the schema
    the first one committed, and finds nothing left to do.
    """
    with _ALEMBIC_IN_PROCESS, _checked_connection(db) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_MIGRATION_LOCK_KEY})
        yield connection


def _run_migrations(connection, revision: str) -> None:
    from alembic import command

    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _known_revisions() -> set[str]:
    return {rev.revision for rev in _script_directory().walk_revisions()}


@contextmanager
def _checked_connection(db: Database):
    """A connection, with connection failures turned into one clear `DatabaseUnavailable` line."""
    try:
        connection = db.engine.connect()
    except OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to {_masked(db)}: {_first_line(exc.orig)}") from None
    with connection:
        yield connection


def _masked(db: Database) -> str:
    return make_url(db.url).render_as_string(hide_password=True)


def _first_line(error: BaseException | None) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


class SessionBoundDatabase:
    """A `Database` stand-in whose sessions are savepoints in one open (claiming) transaction.

    `savepoints` False: its sessions are the open transaction itself, flushed where a savepoint
    would be (at its start and its release), so that the same statements run in the same order
    without SAVEPOINT and RELEASE; what fails in one can then be undone only with everything.
    """

    def __init__(self, db: Database, session: Session, *, savepoints: bool = True) -> None:
        self._db = db
        self._session = session
        self._savepoints = savepoints

    @contextmanager
    def session(self, *, urgent: bool = False) -> Iterator[Session]:
        # `urgent` asks for an early turn at the write lock; the open transaction already holds it.
        if not self._savepoints:
            # The flushes matter beyond their order: the ticket history hook runs at a flush.
            self._session.flush()
            yield self._session
            self._session.flush()
            return
        with self._session.begin_nested():
            yield self._session

    @property
    def open_session(self) -> Session:
        """The open transaction's session itself, for a statement that needs no savepoint of its
        own: one that fails takes the whole transaction down anyway."""
        return self._session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)
