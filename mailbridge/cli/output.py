"""How commands answer: one-line failures (exit 1), refused option values, JSON; no database code.

A module of its own so that a command that must start fast (`tickets list`) can use them
without `mailbridge.cli.common`, which imports SQLAlchemy for its database helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import typer

from mailbridge.cli.jsonl import json_line


def fail(message: str) -> NoReturn:
    """Print `mailbridge: <message>` to stderr and exit 1."""
    typer.echo(f"mailbridge: {message}", err=True)
    raise typer.Exit(1)


def one_of(values: Sequence[str]) -> Callable[[str | None], str | None]:
    """A typer callback that accepts only `values` (or no value), naming them when it refuses."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in values:
            raise typer.BadParameter(f"must be one of {', '.join(values)}")
        return value

    return check


def print_json(data: Any) -> None:
    """One JSON document on one line (JSON Lines when called once per item), UTF-8 kept readable."""
    typer.echo(json_line(data))
