"""`mailbridge db upgrade`: bring the database schema up to the one this mailbridge needs."""

from __future__ import annotations

import typer

from mailbridge.cli import SETUP_PANEL, group
from mailbridge.cli.config_cmd import ConfigOption, config_or_exit, masked_url
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
def upgrade(config: ConfigOption = None) -> None:
    loaded = config_or_exit(config)
    loaded.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        typer.echo(upgrade_database(loaded.database_url))
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def upgrade_database(url: str) -> str:
    """Migrate the database at `url` to the current schema; one line saying what happened."""
    database = store_db.connect(url)
    try:
        before, after = store_db.upgrade(database)
    finally:
        database.dispose()
    where = masked_url(url)
    if before == after:
        return f"{where}: schema already at {after}, nothing to do"
    return f"{where}: schema upgraded from {before or 'empty'} to {after}"
