"""`mailbridge outbox list|retry|drop|send`: the mail mailbridge sends, and what to do when it is stuck."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import col, select

from mailbridge.outgoing import outbox
from mailbridge.cli import TICKETS_PANEL, group
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, fail, one_of, print_json
from mailbridge.outgoing.outbox_worker import OutboxWorker
from mailbridge.store.db import Database
from mailbridge.store.models import OUTBOX_STATES, Outbox, Ticket
from mailbridge.store.types import utcnow

outbox_app = group("outbox", """See the mail mailbridge sends, and unstick it.

Every mail mailbridge sends (acknowledgements, agent notifications, status mail, deadline
warnings) is first queued here, in the same transaction as its cause, and `mailbridge serve`
delivers it through the relay of `[outbox]` (or into a Maildir when there is none), retrying
temporary failures with growing pauses. Look here when a customer says they got nothing: a
mail may be retrying, held by loop protection, failed or bounced.

Examples:

    mailbridge outbox list --state failed
    mailbridge outbox retry 42
    mailbridge outbox send
""", TICKETS_PANEL)

IdArgument = Annotated[int, typer.Argument(help="The outbox id (see `outbox list`).", metavar="ID",
                                           show_default=False)]

LIST_HELP = """List outgoing mail, newest first.

One entry per mail: id, state, kind, ticket, recipient, attempts, when it was sent or is next
tried, and the last error under it. The states: `queued` (waiting or retrying), `sent`, `held`
(loop protection: rate limit or a bounced address), `failed` (refused for good, or out of
attempts), `bounced` (a DSN came back), `dropped` (given up by an operator).

Examples:

    mailbridge outbox list --state failed
    mailbridge outbox list --json
"""

RETRY_HELP = """Queue held, failed or bounced mail again, to be sent now.

Use it once the cause is fixed (the relay is back, the address works again, the rate limit was
a false alarm). The mail keeps its Message-ID and starts with fresh attempts; `mailbridge
serve` sends it (or run `mailbridge outbox send`). Give an ID, or `--all` for every held and
failed mail (bounced mail only by its ID).

Examples:

    mailbridge outbox retry 42
    mailbridge outbox retry --all
"""

DROP_HELP = """Give up on a mail that is not sent yet.

Use it for mail that should not go out any more (a notice about a ticket already answered by
phone, a mail to an address that will never work). It stays listed as `dropped`; a sent mail
cannot be dropped.

Examples:

    mailbridge outbox drop 42
"""

SEND_HELP = """Deliver every mail due now, then exit.

This is what `mailbridge serve` does all the time; use it when serve is not running (a test
setup, a cron job next to `mailbridge ingest`) or to send retried mail at once. Prints how
many were sent and how many are still queued.

Examples:

    mailbridge outbox send
"""


@outbox_app.command("list", help=LIST_HELP)
def list_command(
    state: Annotated[str | None, typer.Option(
        "--state", metavar="STATE", callback=one_of(OUTBOX_STATES), show_default="every state",
        help=f"Only mail in this state: {', '.join(OUTBOX_STATES)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most this many.")] = 200,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        # Reads that never wait for a writer (see `Database.reader`).
        reader = db.reader()
        rows = outbox.list_outbox(reader, state=state, limit=limit)
        codes = _ticket_codes(reader, rows)
    if as_json:
        print_json([_row_json(row, codes) for row in rows])
    elif not rows:
        typer.echo("no outgoing mail" + (f" in state {state}" if state else ""))
    else:
        typer.echo("\n".join(_row_line(row, codes) for row in rows))


@outbox_app.command("retry", help=RETRY_HELP)
def retry_command(
    row_id: Annotated[int | None, typer.Argument(help="The outbox id (see `outbox list`); or use --all.",
                                                 metavar="ID", show_default=False)] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every held and failed mail.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    if (row_id is None) == (not everything):
        raise typer.BadParameter("give an outbox ID or --all (not both)")
    loaded = config_or_exit(config)
    with database(loaded) as db:
        ids = [row_id] if row_id is not None else _stuck_ids(db)
        released = outbox.release(db, ids, utcnow())
    if row_id is not None and not released:
        fail(f"outbox {row_id} is not held, failed or bounced (see `mailbridge outbox list`)")
    if as_json:
        print_json({"queued_again": released})
    else:
        typer.echo(f"{released} mail(s) queued again; `mailbridge serve` sends them")


@outbox_app.command("drop", help=DROP_HELP)
def drop_command(row_id: IdArgument, as_json: JsonOption = False, config: ConfigOption = None) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        if not outbox.drop(db, row_id):
            fail(f"outbox {row_id} is unknown, already sent or already dropped")
    if as_json:
        print_json({"dropped": row_id})
    else:
        typer.echo(f"outbox {row_id} dropped")


@outbox_app.command("send", help=SEND_HELP)
def send_command(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    loaded = config_or_exit(config, need_secrets=True)
    with database(loaded) as db:
        sent = OutboxWorker(db=db, config=loaded).drain()
        waiting = len(outbox.list_outbox(db, state="queued"))
    if as_json:
        print_json({"sent": sent, "queued": waiting})
    else:
        typer.echo(f"sent {sent}; {waiting} still queued")


def _when(row: Outbox) -> str:
    if row.sent_at:
        return f", sent {row.sent_at:%Y-%m-%d %H:%M} UTC"
    if row.state == "queued":
        return f", next {row.next_attempt_at:%Y-%m-%d %H:%M} UTC"
    return ""  # failed, held, bounced, dropped: nothing is tried again until someone says so


def _stuck_ids(db: Database) -> list[int]:
    return [row.id for state in ("held", "failed") for row in outbox.list_outbox(db, state=state, limit=10_000)]


def _ticket_codes(db: Database, rows: list[Outbox]) -> dict[int, str]:
    ids = {row.ticket_id for row in rows if row.ticket_id is not None}
    if not ids:
        return {}
    with db.session() as session:
        return dict(session.exec(select(Ticket.id, Ticket.code).where(col(Ticket.id).in_(ids))).all())


def _row_json(row: Outbox, codes: dict[int, str]) -> dict:
    return {
        "id": row.id, "state": row.state, "kind": row.kind, "intent": row.intent,
        "ticket": codes.get(row.ticket_id), "recipient": row.recipient, "message_id": row.message_id,
        "attempts": row.attempts, "created_at": row.created_at.isoformat(),
        # Only queued mail is tried again: failed, held, bounced or sent mail has no next attempt.
        "next_attempt_at": row.next_attempt_at.isoformat() if row.state == "queued" else None,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None, "last_error": row.last_error,
    }


def _row_line(row: Outbox, codes: dict[int, str]) -> str:
    line = (f"{row.id:>6}  {row.state:<8} {row.kind:<11} {codes.get(row.ticket_id, '-'):<11} "
            f"{row.recipient}  attempts {row.attempts}{_when(row)}")
    return f"{line}\n        {row.last_error}" if row.last_error else line
