"""`mailbridge tickets list|show|resolve|close|reopen`: look at tickets, change their status."""

from __future__ import annotations

from typing import Annotated

import typer

from mailbridge import clocks, present, present_clocks, status
from mailbridge.cli import app
from mailbridge.cli.clock_options import NowOption, now_from
from mailbridge.cli.common import (
    ConfigOption,
    JsonOption,
    config_or_exit,
    database,
    fail,
    print_json,
    secret_for,
)
from mailbridge.errors import MailbridgeError
from mailbridge.store import repo, repo_clock
from mailbridge.store.models import TICKET_STATUSES
from mailbridge.store.types import utcnow

tickets_app = typer.Typer(help="List tickets, show their conversations, change their status.", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")

LIST_HELP = """List tickets, most recently updated first.

Examples:  mailbridge tickets list --queue dynamics --status open
           mailbridge tickets list --overdue        (a response or resolution clock past due)
           mailbridge tickets list --json
"""

SHOW_HELP = """Show one ticket: its people, the whole conversation with attachments listed, then its
SLA clocks (target, due, elapsed, paused, met or breached, with their spans).

Example:  mailbridge tickets show DYN-000123
"""


def _status(value: str | None) -> str | None:
    if value is not None and value not in TICKET_STATUSES:
        raise typer.BadParameter(f"must be one of {', '.join(TICKET_STATUSES)}")
    return value


@tickets_app.command("list", help=LIST_HELP)
def list_command(
    queue: Annotated[str | None, typer.Option("--queue", help="Only this queue (by name).")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only this status.", callback=_status)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many tickets.")] = 200,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only tickets past a due time, most overdue first.")] = False,
    now: NowOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    if queue is not None and loaded.queue(queue) is None:
        fail(f"no queue named {queue!r} (queues: {', '.join(q.name for q in loaded.queues)})")
    with database(loaded) as db, db.session() as session:
        if overdue:
            tickets = repo_clock.overdue(session=session, now=now_from(now), queue=queue, limit=limit)
        else:
            tickets = repo.list_tickets(session=session, queue=queue, status=status, limit=limit)
    if as_json:
        print_json([present.ticket_json(t) for t in tickets])
    else:
        typer.echo(present.tickets_table(tickets))


@tickets_app.command("show", help=SHOW_HELP)
def show_command(
    code: Annotated[str, typer.Argument(help="The ticket code, e.g. DYN-000123.", show_default=False)],
    now: NowOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db, db.session() as session:
        ticket = repo.ticket_by_code(code.strip().strip("[]"), session=session)
        if ticket is None:
            fail(f"no ticket {code}")
        participants = repo.participants_of(ticket.id, session=session)
        messages = repo.messages_of(ticket.id, session=session)
        attachments = repo.attachments_of([m.id for m in messages], session=session)
        timing = clocks.compute(ticket, session=session, config=loaded, now=now_from(now))
    if as_json:
        data = present.conversation_json(ticket, participants, messages, attachments)
        print_json({**data, "clocks": [present_clocks.clock_json(c) for c in timing.clocks]})
    else:
        typer.echo(present.conversation_text(ticket, participants, messages, attachments))
        typer.echo("\n".join(clocks.clock_text(ticket, timing, loaded)))


STATUS_HELP = """{what} ticket CODE and queue the customer's {mail} mail (sent by `mailbridge serve`).

Example:  mailbridge tickets {action} DYN-000123
"""


def _status_command(action: str, what: str, mail: str) -> None:
    @tickets_app.command(action, help=STATUS_HELP.format(what=what, mail=mail, action=action))
    def command(
        code: Annotated[str, typer.Argument(help="The ticket code, e.g. DYN-000123.", show_default=False)],
        as_json: JsonOption = False,
        config: ConfigOption = None,
    ) -> None:
        loaded = config_or_exit(config)
        with database(loaded) as db:
            try:
                change = status.change_status(code, action, db=db, config=loaded, secret=secret_for(loaded),
                                              now=utcnow())
            except MailbridgeError as error:
                fail(str(error))
        if as_json:
            print_json({"ticket": change.code, "before": change.before, "after": change.after,
                        "mail_queued": change.mail_queued})
        else:
            queued = "mail queued" if change.mail_queued else "no mail (see the log)"
            typer.echo(f"{change.code}: {change.before} → {change.after}; {queued}")


_status_command("resolve", "Resolve", "'resolved'")
_status_command("close", "Close", "'closed'")
_status_command("reopen", "Reopen", "'reopened'")
