"""`mailbridge systemd-unit` and `mailbridge backup`: installing the service and copying its data."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from mailbridge.cli import SETUP_PANEL, app
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, fail, no_database, print_json
from mailbridge.errors import StoreError
from mailbridge.service import unit
from mailbridge.store.backup import backup_sqlite

UNIT_HELP = """Print a systemd unit that runs this mailbridge.

The unit's `ExecStart` is this installation's own `mailbridge` executable (a venv's
`bin/mailbridge` when run from one), with `--config` the config the service reads (default
`/etc/mailbridge/mailbridge.toml`). It is `Type=notify` with a watchdog, reloads on
`systemctl reload`, runs as a dynamic user with its state in `/var/lib/mailbridge`, and passes
`systemd-analyze verify` and `systemd-analyze security` (exposure "OK").

Examples:

    mailbridge systemd-unit > /etc/systemd/system/mailbridge.service
    systemctl daemon-reload && systemctl enable --now mailbridge
"""

BACKUP_HELP = """Copy the SQLite database to PATH while mailbridge runs.

Uses SQLite's online backup API: the copy is consistent even while `serve` writes, and writers
wait only a few milliseconds at a time. The copy is checked (`PRAGMA quick_check`), synced
and only then given its name. Back up `secret.key` (in the state directory) once as well:
without it, replies to mail sent before a restore no longer find their ticket by token. For
PostgreSQL use `pg_dump`; see docs/operations.md.

Examples:

    mailbridge backup /var/backups/mailbridge-$(date +%F).sqlite3
"""


@app.command("systemd-unit", help=UNIT_HELP, rich_help_panel=SETUP_PANEL)
def systemd_unit(config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="FILE", dir_okay=False, show_default=str(unit.DEFAULT_CONFIG),
        help="The config file the service is to read.")] = None) -> None:
    typer.echo(unit.render(_executable(), (config or unit.DEFAULT_CONFIG).absolute()), nl=False)


def _executable() -> Path:
    """This installation's `mailbridge`: beside the running Python (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "mailbridge"
    if beside.is_file():
        return beside
    found = shutil.which("mailbridge")
    return Path(found).absolute() if found else unit.DEFAULT_EXECUTABLE


@app.command("backup", help=BACKUP_HELP, rich_help_panel=SETUP_PANEL)
def backup_command(
    path: Annotated[Path, typer.Argument(help="Where to write the copy.", metavar="PATH", dir_okay=False,
                                         show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace PATH if it exists.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    url = make_url(loaded.database_url)
    if url.get_backend_name() != "sqlite":
        fail("the database is PostgreSQL: back it up with pg_dump (see docs/operations.md)")
    source = Path(url.database or "")
    if not source.is_file():
        fail(no_database(loaded))
    try:
        result = backup_sqlite(source, path.absolute(), overwrite=force)
    except StoreError as error:
        fail(str(error))
    if as_json:
        print_json({"database": str(result.source), "backup": str(result.target), "bytes": result.size,
                    "check": result.check})
    else:
        typer.echo(f"{result.source} copied to {result.target} ({result.size} bytes, check {result.check}); "
                   f"keep {loaded.secret_path} with it")
