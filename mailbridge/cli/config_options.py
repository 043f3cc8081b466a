"""`--config` and `--json`, shared by every command that reads the config, and loading it or exiting 1.

A module of its own so that a command reaches the config without importing `check-config`'s
template and SMS checks (jinja2, phonenumbers) or the database helpers of `common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mailbridge.errors import ConfigError

if TYPE_CHECKING:
    from mailbridge.config import Config

# Shared by every command that reads the config, so `--config` reads the same everywhere.
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The TOML config file to read.",
        show_default="$MAILBRIDGE_CONFIG, else /etc/mailbridge/mailbridge.toml",
        metavar="FILE",
        dir_okay=False,
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of text.")]


def config_or_exit(path: Path | None, *, need_secrets: bool = False) -> Config:
    """The loaded config; on problems print them one per line to stderr and exit 1.

    `need_secrets`: the command logs in somewhere (IMAP, the relay), so a password it cannot
    read is a problem; other commands run without them (see `mailbridge.config.load`).
    """
    # Imported here: the models import pydantic, which `tickets list` skips for a plain file
    # (mailbridge.config.plain).
    from mailbridge.config import load_config

    try:
        return load_config(path, need_secrets=need_secrets)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1) from None
