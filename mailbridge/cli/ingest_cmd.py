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
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, fail, print_json, secret_for
from mailbridge.config import Config
from mailbridge.history import IMPORT_SOURCE, settle
from mailbridge.outcome import Outcome, Tally
from mailbridge.sources.files import FileMessage, SourceError, count_messages, iter_path
from mailbridge.store.db import Database
from mailbridge.store.types import utcnow

HELP = """Read mail files into tickets: .eml, mbox or Maildir.

**Without `--import` this mails people**, exactly as live mail would: an acknowledgement to
every new customer and a notice to the agents for each message, sent by the next `serve` or
`outbox send`. To bring in an old mailbox use `--import`: history is stored (tickets, threading,
SLA clocks computed as of each message's own receipt time) and no mail at all is queued; its
tickets idle for more than `[import] close_after_days` (14) are then closed (or set to
`[import] status`), without mail either. Plain `ingest` of more than 10 messages asks first
(or needs `--yes`).

Use it to replay mail saved elsewhere, or to try a config on real mail before going live
(with `--dry-run`). PATH may be an .eml file, an mbox file, a Maildir
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

    mailbridge ingest --import old-support.mbox
    mailbridge ingest ~/Maildir/.Support --dry-run --json
    mailbridge ingest lost-overnight.eml
"""

# More messages than this, ingested as live mail, need a confirmation (or --yes).
CONFIRM_ABOVE = 10


@app.command("ingest", help=HELP, rich_help_panel=MAIL_PANEL)
def ingest_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders to read (.eml, mbox, Maildir).", metavar="PATH", exists=True,
                       show_default=False),
    ],
    history: Annotated[bool, typer.Option(
        "--import", help="Store old mail as history: no acknowledgements, no notices, no mail at all.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen; write nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Ingest as live mail without asking, however many.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    if not (history or dry_run or yes):
        _confirm_live(paths)
    with database(loaded, read_only=dry_run, create=not dry_run) as db:
        tally, problems, codes = _ingest_paths(paths, db=db, config=loaded, dry_run=dry_run, as_json=as_json,
                                               history=history)
        settled = settle(codes, db=db, config=loaded, now=utcnow()) if history and not dry_run else 0
    _report(tally, problems, dry_run=dry_run, as_json=as_json, history=history, settled=settled, config=loaded)
    if problems or tally.counts["quarantined"]:
        raise typer.Exit(1)


def _confirm_live(paths: list[Path]) -> None:
    """Ask before mailing the people of many messages; refuse without a terminal to ask on."""
    try:
        count = count_messages(paths)
    except SourceError:
        return  # the ingest itself reports the unreadable path
    if count <= CONFIRM_ABOVE:
        return
    warning = (f"{count} messages: ingested as live mail, each new customer gets an acknowledgement and the "
               "agents a notice per message (sent by `serve` or `outbox send`). To store old mail without "
               "mailing anyone, use `mailbridge ingest --import`.")
    if not sys.stdin.isatty():
        fail(f"{warning} To send them anyway, pass --yes.")
    typer.echo(f"warning: {warning}", err=True)
    if not typer.confirm("Ingest as live mail and queue that mail?", default=False, err=True):
        raise typer.Exit(1)


def _ingest_paths(
    paths: list[Path], *, db: Database, config: Config, dry_run: bool, as_json: bool, history: bool = False,
) -> tuple[Tally, list[str], set[str]]:
    """Every message of every path, one at a time; a path that fails is noted and skipped."""
    # A fresh install has no secret yet and a dry run must not create one; no token signed
    # with it can exist either, so a throwaway secret decides the same.
    secret = secret_for(config, read_only=dry_run) or secrets.token_bytes(32)
    tally, problems, codes = Tally(), [], set()
    with _progress(paths, enabled=sys.stderr.isatty()) as advance:
        for path in paths:
            try:
                for item in iter_path(path):
                    outcome = _one(item, db=db, config=config, secret=secret, dry_run=dry_run, history=history)
                    tally.add(outcome)
                    # Only the tickets this import opened are settled: never a live ticket it added to.
                    if outcome.kind == "created" and outcome.ticket_code:
                        codes.add(outcome.ticket_code)
                    _show(outcome, item, as_json=as_json)
                    advance()
            except SourceError as error:
                problems.append(str(error))
    return tally, problems, codes


def _one(item: FileMessage, *, db: Database, config: Config, secret: bytes, dry_run: bool,
         history: bool) -> Outcome:
    run = pipeline.dry_run if dry_run else pipeline.ingest
    # History is marked by its source, so that whoever processes it queues no mail (see mailbridge.history).
    source = IMPORT_SOURCE + item.source.split(":", 1)[1] if history else item.source
    return run(item.raw, db=db, config=config, now=utcnow(), source=source,
               received_at=item.received_at, secret=secret)


def _show(outcome: Outcome, item: FileMessage, *, as_json: bool) -> None:
    if as_json:
        print_json(outcome.to_json(item.source))
    elif outcome.kind == "quarantined":
        typer.echo(f"quarantined {item.source}: stage {outcome.stage}: {outcome.error}", err=True)


def _report(tally: Tally, problems: list[str], *, dry_run: bool, as_json: bool, history: bool = False,
            settled: int = 0, config: Config | None = None) -> None:
    for problem in problems:
        typer.echo(f"mailbridge: {problem}", err=True)
    prefix = "dry run, nothing written: " if dry_run else ""
    line = f"{prefix}{tally.total} message(s): {tally.summary()}"
    if tally.counts["quarantined"] and not dry_run:
        line += " (see `mailbridge quarantine list`)"
    if history and not dry_run and config is not None:
        line += (f"; imported as history, no mail queued; {settled} ticket(s) idle for more than "
                 f"{config.import_.close_after_days} days set {config.import_.status}")
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
