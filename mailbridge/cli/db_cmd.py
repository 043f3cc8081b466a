"""`mailbridge db upgrade`: bring the database schema up to the one this mailbridge needs."""

from __future__ import annotations

import json

import typer

from mailbridge.cli import SETUP_PANEL, group
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, url_for_people
from mailbridge.errors import StoreError
from mailbridge.store import db as store_db

db_app = group("db", """Create or upgrade the database schema.

The commands that use the database create its schema on first use, and refuse a database whose
schema is older than they need: after installing a new mailbridge, run `mailbridge db upgrade`
once before restarting `mailbridge serve`. The database is the `database_url` of the config
(a SQLite file in the state directory by default, or PostgreSQL).

Examples:

    mailbridge db upgrade
""", SETUP_PANEL)

UPGRADE_HELP = """Migrate the configured database to this mailbridge's schema.

Creates the schema on an empty database; running it again when the schema is current does
nothing and says so. Run it after each upgrade of mailbridge. Stop the running mailbridge
instances first when the release notes say a migration rewrites a large table.

Examples:

    mailbridge db upgrade
    mailbridge db upgrade --config /etc/mailbridge/mailbridge.toml
"""


@db_app.command("upgrade", help=UPGRADE_HELP)
def upgrade(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    loaded = config_or_exit(config)
    loaded.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        before, after = migrate(loaded.database_url)
    except StoreError as exc:
        typer.echo(f"mailbridge: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"database": url_for_people(loaded.database_url), "before": before, "after": after,
                               "changed": before != after}))
    else:
        typer.echo(_upgrade_line(loaded.database_url, before, after))


def migrate(url: str) -> tuple[str | None, str]:
    """Migrate the database at `url` to the current schema; (revision before, revision after)."""
    database = store_db.connect(url)
    try:
        return store_db.upgrade(database)
    finally:
        database.dispose()


def upgrade_database(url: str) -> str:
    """Migrate the database at `url` to the current schema; one line saying what happened."""
    return _upgrade_line(url, *migrate(url))


def _upgrade_line(url: str, before: str | None, after: str) -> str:
    where = url_for_people(url)
    if before == after:
        return f"{where}: schema already at {after}, nothing to do"
    return f"{where}: schema upgraded from {before or 'empty'} to {after}"
