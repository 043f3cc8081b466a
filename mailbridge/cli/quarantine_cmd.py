"""`mailbridge quarantine list|show|retry|drop`: messages that failed a stage, and replaying them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mailbridge import pipeline, present
from mailbridge.intake import durable
from mailbridge.cli import TICKETS_PANEL, group
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, fail, print_json
from mailbridge.store.db import Database
from mailbridge.store.models import Quarantine
from mailbridge.store.types import utcnow

quarantine_app = group("quarantine", """Look at mail that failed a stage; retry or drop it.

A message that cannot be parsed, routed or stored (a bug, a config gap, a database outage) is
not lost: it is kept in quarantine with its raw bytes, the stage that failed and the error,
and the rest of the mail goes on. Look here when `mailbridge ingest` or the log reports a
quarantined message; fix the cause, then retry it.

Examples:

    mailbridge quarantine list
    mailbridge quarantine show 7
    mailbridge quarantine retry --all
""", TICKETS_PANEL)

IdArgument = Annotated[int, typer.Argument(help="The quarantine id (see `quarantine list`).", metavar="ID",
                                           show_default=False)]

LIST_HELP = """List quarantined messages, oldest first.

One line per entry: id, failed stage, state, tries, since when, and the error. Only the
entries still held are listed unless you ask for `--all` (retried and dropped ones too).

Examples:

    mailbridge quarantine list
    mailbridge quarantine list --all --json
"""

SHOW_HELP = """Show why a message is quarantined, and its headers.

Prints the stage that failed, the error, how often it was tried, where the message came from
(size, source, sha256) and its first header lines. `--raw` prints the message's exact bytes
instead, for `mailbridge parse -` or a bug report.

Examples:

    mailbridge quarantine show 7
    mailbridge quarantine show 7 --raw | mailbridge parse -
"""

RETRY_HELP = """Run quarantined mail through the pipeline again.

Use it after fixing the cause (the config, the database, or a new mailbridge). A retry that
goes through marks the entry retried and prints where the message went; one that fails again
keeps it held with the new error and exits 1. Give an ID, or `--all` for every held message.

Examples:

    mailbridge quarantine retry 7
    mailbridge quarantine retry --all --json
"""

DROP_HELP = """Give up on a quarantined message.

Use it for mail that should never become a ticket (spam that slipped through, a test). The
entry is marked dropped and no longer listed; its raw bytes stay stored.

Examples:

    mailbridge quarantine drop 7
"""

# How many header lines `show` prints; `--raw` gives the whole message.
_HEADER_LINES = 40


@quarantine_app.command("list", help=LIST_HELP)
def list_command(
    everything: Annotated[bool, typer.Option("--all", help="Also list retried and dropped entries.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        # Reads that never wait for a writer (see `Database.reader`).
        entries = durable.list_quarantine(db.reader(), state=None if everything else "held")
    if as_json:
        print_json([present.quarantine_json(e) for e in entries])
    else:
        typer.echo(present.quarantine_table(entries))


@quarantine_app.command("show", help=SHOW_HELP)
def show_command(
    entry_id: IdArgument,
    raw_bytes: Annotated[bool, typer.Option("--raw", help="Print the raw message, byte for byte, instead.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        # Reads that never wait for a writer (see `Database.reader`).
        reader = db.reader()
        entry = _entry(reader, entry_id)
        raw = durable.get_raw(reader, entry.raw_id)
    if raw_bytes:
        sys.stdout.buffer.write(raw.content)
        sys.stdout.buffer.flush()
    elif as_json:
        print_json(present.quarantine_json(entry, raw))
    else:
        typer.echo(present.quarantine_text(entry, raw, _header_lines(raw.content)))


@quarantine_app.command("retry", help=RETRY_HELP)
def retry_command(
    entry_id: Annotated[int | None, typer.Argument(help="The quarantine id (see `quarantine list`); or use --all.",
                                                   metavar="ID", show_default=False)] = None,
    everything: Annotated[bool, typer.Option("--all", help="Retry every held message.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    if (entry_id is None) == (not everything):
        raise typer.BadParameter("give a quarantine ID or --all (not both)")
    loaded = config_or_exit(config)
    failed = 0
    with database(loaded) as db:
        entries = durable.list_quarantine(db) if everything else [_held(db, entry_id)]
        for entry in entries:
            outcome = pipeline.retry(entry, db=db, config=loaded, now=utcnow())
            failed += outcome.kind == "quarantined"
            _show_retry(entry, outcome, as_json=as_json)
    if failed:
        raise typer.Exit(1)


@quarantine_app.command("drop", help=DROP_HELP)
def drop_command(entry_id: IdArgument, as_json: JsonOption = False, config: ConfigOption = None) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        _held(db, entry_id)
        durable.drop(db, entry_id)
    if as_json:
        print_json({"dropped": entry_id})
    else:
        typer.echo(f"quarantine {entry_id} dropped")


def _entry(db: Database, entry_id: int) -> Quarantine:
    entry = durable.get_quarantine(db, entry_id)
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
