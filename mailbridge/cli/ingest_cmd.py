"""`mailbridge ingest`: take mail from .eml files, mbox files and Maildir folders into tickets."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from mailbridge import pipeline
from mailbridge.cli import MAIL_PANEL, app
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, print_json, secret_for
from mailbridge.config import Config
from mailbridge.outcome import Outcome, Tally
from mailbridge.sources.files import FileMessage, SourceError, count_messages, iter_path
from mailbridge.store.db import Database
from mailbridge.store.types import utcnow

HELP = """Read mail files into tickets: .eml, mbox or Maildir.

Use it to import an old mailbox, to replay mail saved elsewhere, or to try a config on real
mail before going live (with `--dry-run`). PATH may be an .eml file, an mbox file, a Maildir
folder (with `new/` and `cur/`), or a folder of .eml files. An Outlook .msg file is not mail
in this sense: it is refused with how to convert it to .eml (`msgconvert`). Each message is stored durably first,
then parsed, routed to its queue and threaded, exactly as `mailbridge serve` would; the same
message ingested twice is stored once. A message that fails a stage goes to quarantine (see
`mailbridge quarantine`) and the rest of the batch goes on.

Prints a summary (created, threaded, duplicates, dropped, quarantined). With `--json`, standard
output carries one JSON object per message and the summary goes to standard error. Exits 1 when
a path could not be read or a message was quarantined.

`--dry-run` writes nothing: each message is processed in a transaction that is rolled back, so
messages of one batch do not see each other (a reply to a mail of the same batch shows as a new
ticket).

Examples:

    mailbridge ingest support.mbox
    mailbridge ingest ~/Maildir/.Support --dry-run --json
"""


@app.command("ingest", help=HELP, rich_help_panel=MAIL_PANEL)
def ingest_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders to read (.eml, mbox, Maildir).", metavar="PATH", exists=True,
                       show_default=False),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen; write nothing.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    with database(loaded, read_only=dry_run, create=not dry_run) as db:
        tally, problems = _ingest_paths(paths, db=db, config=loaded, dry_run=dry_run, as_json=as_json)
    _report(tally, problems, dry_run=dry_run, as_json=as_json)
    if problems or tally.counts["quarantined"]:
        raise typer.Exit(1)


def _ingest_paths(
    paths: list[Path], *, db: Database, config: Config, dry_run: bool, as_json: bool
) -> tuple[Tally, list[str]]:
    """Every message of every path, one at a time; a path that fails is noted and skipped."""
    # A fresh install has no secret yet and a dry run must not create one; no token signed
    # with it can exist either, so a throwaway secret decides the same.
    secret = secret_for(config, read_only=dry_run) or secrets.token_bytes(32)
    tally, problems = Tally(), []
    with _progress(paths, enabled=sys.stderr.isatty()) as advance:
        for path in paths:
            try:
                for item in iter_path(path):
                    outcome = _one(item, db=db, config=config, secret=secret, dry_run=dry_run)
                    tally.add(outcome)
                    _show(outcome, item, as_json=as_json)
                    advance()
            except SourceError as error:
                problems.append(str(error))
    return tally, problems


def _one(item: FileMessage, *, db: Database, config: Config, secret: bytes, dry_run: bool) -> Outcome:
    run = pipeline.dry_run if dry_run else pipeline.ingest
    return run(item.raw, db=db, config=config, now=utcnow(), source=item.source,
               received_at=item.received_at, secret=secret)


def _show(outcome: Outcome, item: FileMessage, *, as_json: bool) -> None:
    if as_json:
        print_json(outcome.to_json(item.source))
    elif outcome.kind == "quarantined":
        typer.echo(f"quarantined {item.source}: stage {outcome.stage}: {outcome.error}", err=True)


def _report(tally: Tally, problems: list[str], *, dry_run: bool, as_json: bool) -> None:
    for problem in problems:
        typer.echo(f"mailbridge: {problem}", err=True)
    prefix = "dry run, nothing written: " if dry_run else ""
    line = f"{prefix}{tally.total} message(s): {tally.summary()}"
    if tally.counts["quarantined"] and not dry_run:
        line += " (see `mailbridge quarantine list`)"
    # With --json, stdout carries only the per-message objects.
    typer.echo(line, err=as_json)


@contextmanager
def _progress(paths: list[Path], *, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr when it is a terminal; otherwise a no-op."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    try:
        total = count_messages(paths)
    except SourceError:
        total = None
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("ingesting", total=total)
        yield lambda: progress.advance(task)
