"""`--now` for commands that judge clocks: look at tickets as of another instant (tests, "what if")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer


def _instant(value: str | None) -> str | None:
    if value is not None:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"not a time like 2026-11-23T11:00:00+01:00: {value!r}") from None
        if parsed.tzinfo is None:
            raise typer.BadParameter(f"give the offset too (+01:00, Z): {value!r}")
    return value


NowOption = Annotated[str | None, typer.Option(
    "--now", metavar="TIME", callback=_instant, show_default="the current time",
    help="Judge clocks as of this instant, in ISO 8601 with its offset (2026-11-23T11:00:00+01:00).")]


def now_from(value: str | None) -> datetime:
    """The instant `--now` names, in UTC, or the current time."""
    # datetime.now(UTC) is `store.types.utcnow`, which would import SQLAlchemy for `tickets list`.
    return datetime.fromisoformat(value).astimezone(UTC) if value else datetime.now(UTC)
