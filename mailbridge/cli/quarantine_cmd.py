"""`mailbridge quarantine list|show|retry|drop`: messages that failed a stage, and replaying them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mailbridge import intake, pipeline, present
from mailbridge.cli import app
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, fail, print_json
from mailbridge.store.db import Database
from mailbridge.store.models import Quarantine
from mailbridge.store.types import utcnow

quarantine_app = typer.Typer(
    help="Messages that failed a stage: look at them, retry them after a fix, or drop them.",
    no_args_is_help=True,
)
app.add_typer(quarantine_app, name="quarantine")

IdArgument = Annotated[int, typer.Argument(help="The quarantine id (see `quarantine list`).", show_default=False)]
# How many header lines `show` prints; `--raw` gives the whole message.
_HEADER_LINES = 40


@quarantine_app.command("list", help="List quarantined messages (held ones; --all for every state).")
def list_command(
    everything: Annotated[bool, typer.Option("--all", help="Include retried and dropped entries.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        entries = intake.list_quarantine(db, state=None if everything else "held")
    if as_json:
        print_json([present.quarantine_json(e) for e in entries])
    else:
        typer.echo(present.quarantine_table(entries))


@quarantine_app.command("show", help="Show why a message is quarantined; --raw prints its exact bytes.")
def show_command(
    entry_id: IdArgument,
    raw_bytes: Annotated[bool, typer.Option("--raw", help="Print the raw message, byte for byte.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        entry = _entry(db, entry_id)
        raw = intake.get_raw(db, entry.raw_id)
    if raw_bytes:
        sys.stdout.buffer.write(raw.content)
        sys.stdout.buffer.flush()
    elif as_json:
        print_json(present.quarantine_json(entry, raw))
    else:
        typer.echo(present.quarantine_text(entry, raw, _header_lines(raw.content)))


RETRY_HELP = """Run a quarantined message through the pipeline again (after fixing the config or
upgrading mailbridge). A retry that succeeds marks the entry retried; one that fails again keeps
it held with the new error. Give an ID, or --all for every held message.
"""


@quarantine_app.command("retry", help=RETRY_HELP)
def retry_command(
    entry_id: Annotated[int | None, typer.Argument(help="The quarantine id.", show_default=False)] = None,
    everything: Annotated[bool, typer.Option("--all", help="Retry every held message.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    if (entry_id is None) == (not everything):
        raise typer.BadParameter("give a quarantine ID or --all (not both)")
    loaded = config_or_exit(config)
    failed = 0
    with database(loaded) as db:
        entries = intake.list_quarantine(db) if everything else [_held(db, entry_id)]
        for entry in entries:
            outcome = pipeline.retry(entry, db=db, config=loaded, now=utcnow())
            failed += outcome.kind == "quarantined"
            _show_retry(entry, outcome, as_json=as_json)
    if failed:
        raise typer.Exit(1)


@quarantine_app.command("drop", help="Give up on a quarantined message (its raw bytes stay stored).")
def drop_command(entry_id: IdArgument, config: ConfigOption = None) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        _held(db, entry_id)
        intake.drop(db, entry_id)
    typer.echo(f"quarantine {entry_id} dropped")


def _entry(db: Database, entry_id: int) -> Quarantine:
    entry = intake.get_quarantine(db, entry_id)
    if entry is None:
        fail(f"no quarantined message with id {entry_id}")
    return entry


def _held(db: Database, entry_id: int) -> Quarantine:
    """The entry, which must still be held: a retried or dropped one is not replayed twice."""
    entry = _entry(db, entry_id)
    if entry.state != "held":
        fail(f"quarantine {entry_id} is {entry.state}, not held")
    return entry


def _show_retry(entry: Quarantine, outcome, *, as_json: bool) -> None:
    if as_json:
        print_json({"id": entry.id, **outcome.to_json()})
    elif outcome.kind == "quarantined":
        typer.echo(f"quarantine {entry.id}: failed again at stage {outcome.stage}: {outcome.error}", err=True)
    else:
        where = f" {outcome.ticket_code}" if outcome.ticket_code else ""
        typer.echo(f"quarantine {entry.id}: {outcome.kind}{where} (rule {outcome.rule})")


def _header_lines(raw: bytes) -> list[str]:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = head.decode("utf-8", "replace").splitlines()
    return lines[:_HEADER_LINES] + (["…"] if len(lines) > _HEADER_LINES else [])
