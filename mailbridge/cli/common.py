"""Helpers every data command shares: config and database with one-line errors, JSON output.

`fail`, `one_of` and `print_json` live in `mailbridge.cli.output` (no SQLAlchemy, for commands
that must start fast) and are named here too.

A command that cannot start (bad config, unreachable or out-of-date database, unknown ticket)
prints one line to stderr and exits 1; typer's own usage errors exit 2. No traceback reaches
the user for anything we can name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from mailbridge.cli.config_options import ConfigOption, JsonOption, config_or_exit
from mailbridge.cli.output import fail, one_of, print_json
from mailbridge.config import Config
from mailbridge.errors import DatabaseUnavailable, StoreError
from mailbridge.store.db import Database, connect, open_database

__all__ = ["ConfigOption", "JsonOption", "config_or_exit", "database", "fail", "one_of", "print_json"]


@contextmanager
def database(config: Config, *, read_only: bool = False, create: bool = False) -> Iterator[Database]:
    """The configured database, opened, or a one-line error and exit 1.

    Only commands that take mail in (`serve`, `ingest`) pass `create`: they make the SQLite file
    and the schema on first use. Every other command refuses a database that does not exist or
    is empty, and says where it looked: run from the wrong directory or with the wrong config, a
    command must not answer "no tickets" from a fresh database of its own.
    `read_only` is for commands that must write nothing (`ingest --dry-run`): a database that
    does not exist yet is then replaced by an empty in-memory one.
    """
    url = config.database_url
    try:
        if _is_sqlite_file(url):
            url = _prepare_sqlite(url, config, read_only=read_only, create=create)
        if _is_empty(url) and not create:
            # Opening an empty database creates the schema: a write only intake may make.
            if not read_only:
                fail(no_database(config))
            url = "sqlite://"
        db = open_database(url)
    except StoreError as error:
        fail(str(error))
    try:
        yield db
    finally:
        db.dispose()


def no_database(config: Config) -> str:
    """Where a command looked for the database and found none, and how to point it at the service's."""
    if _is_sqlite_file(config.database_url):
        where = f"no mailbridge database at {make_url(config.database_url).database}"
    else:
        where = f"the database {url_for_people(config.database_url)} holds no mailbridge data"
    return (f"{where} (config {config.source}, state_dir {config.state_dir} from {state_dir_origin(config)}); "
            "to look at a running service's data, use its config (--config FILE or MAILBRIDGE_CONFIG) with "
            "its state_dir, e.g. state_dir = \"/var/lib/mailbridge\" (see docs/operations.md)")


def state_dir_origin(config: Config) -> str:
    """Where the state directory came from: the config file, systemd's $STATE_DIRECTORY, or the default."""
    if config.mailbridge.state_dir:
        return "the config's state_dir"
    if os.environ.get("STATE_DIRECTORY"):
        return "$STATE_DIRECTORY"
    return "the default ./state of the current directory"


def _is_empty(url: str) -> bool:
    """Whether the database has no tables at all (a fresh install), looked at without writing."""
    db = connect(url)
    try:
        # Through the reader: a look that writes nothing must not wait for a writer's lock.
        with db.reader().engine.connect() as connection:
            return not inspect(connection).get_table_names()
    except OperationalError as error:
        # The driver's message runs over several lines (hints, tabs): the first says what failed.
        reason = next((line.strip() for line in str(error.orig).splitlines() if line.strip()), type(error).__name__)
        raise DatabaseUnavailable(f"cannot connect to {url_for_people(url)}: {reason}") from None
    finally:
        db.dispose()


def url_for_people(url: str) -> str:
    """A database URL with its password masked."""
    return make_url(url).render_as_string(hide_password=True)


def _is_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


def _prepare_sqlite(url: str, config: Config, *, read_only: bool, create: bool) -> str:
    path = Path(make_url(url).database)
    if read_only and not path.exists():
        return "sqlite://"
    if not path.exists() and not create:
        fail(no_database(config))
    # The default database lives in the state directory, which is ours to create on first use.
    if create and path.parent == config.state_dir:
        config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return url


def secret_for(config: Config, *, read_only: bool = False) -> bytes | None:
    """The signing secret; None when it would have to be generated and nothing may be written."""
    if read_only and not config.mailbridge.secret and not config.secret_path.exists():
        return None
    return config.secret_bytes()
