"""`mailbridge tickets list|show|resolve|close|reopen`: look at tickets, change their status."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from mailbridge import present
from mailbridge.cli import TICKETS_PANEL, group
from mailbridge.cli.clock_options import NowOption, now_from
from mailbridge.cli.config_options import ConfigOption, JsonOption, config_or_exit
from mailbridge.cli.output import fail, one_of, print_json
from mailbridge.config.plain import PlainConfig, load_plain
from mailbridge.errors import MailbridgeError
from mailbridge.store import listing
from mailbridge.store.statuses import TICKET_STATUSES

if TYPE_CHECKING:
    from mailbridge.config import Config

# `tickets list` is what scripts run most, and must start within 0.25 s (issue 17): it reads
# through `mailbridge.store.listing`, without SQLAlchemy, and a plain config through
# `mailbridge.config.plain`, without pydantic. What only `show` and the status changes
# need (the database handle, the ORM queries, clocks, outgoing mail, the status machine, and
# through them holidays and the parser) is imported inside those commands.

tickets_app = group("tickets", """Look at tickets and conversations; change their status.

A ticket is one customer request: its code (`DYN-000123`), its queue, its people, every message
on it, the mail mailbridge sent for it and its SLA clocks. Agents usually work by mail; these
commands are for looking a ticket up, for scripts (`--json`), and for status changes and
corrections from the shell. A status change queues the customer's mail, which
`mailbridge serve` sends.

Examples:

    mailbridge tickets list --overdue
    mailbridge tickets show DYN-000123
    mailbridge tickets resolve DYN-000123
""", TICKETS_PANEL)

CodeArgument = Annotated[str, typer.Argument(
    help="The ticket code, e.g. DYN-000123 (case and [] do not matter).", metavar="CODE", show_default=False)]

LIST_HELP = """List tickets, most recently updated first.

One line per ticket: code, queue, status, last update, requester and subject. Filter by queue
and status, or ask for the tickets past a response or resolution due time (`--overdue`, most
overdue first, judged as of `--now`).

Examples:

    mailbridge tickets list --queue dynamics --status open
    mailbridge tickets list --overdue
    mailbridge tickets list --json | jq -r '.[].code'
"""

SHOW_HELP = """Show a ticket: its people, conversation and SLA clocks.

Prints the ticket's queue, status, priority and type, its requester and other participants,
then its timeline in time order: each message (the new text only, attachments listed) and each
mail mailbridge sent for it (acknowledgement, agent notices, status mail, deadline warnings)
with whether it was sent, is still waiting or retrying, or failed and why. Last come the SLA
clocks: target, due time, elapsed and paused time, met or breached, with their spans.

With `--json`, one object with the ticket's fields, `participants`, `messages`, `sent` (our
mail) and `clocks`.

Examples:

    mailbridge tickets show DYN-000123
    mailbridge tickets show DYN-000123 --now 2026-11-23T11:00:00+01:00
    mailbridge tickets show DYN-000123 --json | jq '.sent[].state'
"""


@tickets_app.command("list", help=LIST_HELP)
def list_command(
    queue: Annotated[str | None, typer.Option(
        "--queue", metavar="NAME", help="Only the tickets of this queue.", show_default="every queue")] = None,
    status: Annotated[str | None, typer.Option(
        "--status", metavar="STATUS", callback=one_of(TICKET_STATUSES), show_default="every status",
        help=f"Only tickets in this status: {', '.join(TICKET_STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most this many tickets.")] = 200,
    overdue: Annotated[bool, typer.Option(
        "--overdue", help="Only tickets past a response or resolution due time, most overdue first.")] = False,
    now: NowOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    # A file that is not the plain case is loaded in full, which names its problems.
    loaded = load_plain(config) or config_or_exit(config)
    if queue is not None and loaded.queue(queue) is None:
        fail(f"no queue named {queue!r} (queues: {', '.join(q.name for q in loaded.queues)})")
    overdue_at = now_from(now) if overdue else None
    tickets = _listed(loaded.database_url, queue=queue, status=status, limit=limit, overdue_at=overdue_at)
    if tickets is None:
        # The ORM needs the whole config: loaded now unless the plain reading was not enough.
        full = config_or_exit(config) if isinstance(loaded, PlainConfig) else loaded
        tickets = _listed_by_the_orm(full, queue=queue, status=status, limit=limit,
                                     overdue_at=overdue_at)
    if as_json:
        print_json([present.ticket_json(t) for t in tickets])
    else:
        typer.echo(present.tickets_table(tickets))


def _listed(url: str, *, queue: str | None, status: str | None, limit: int, overdue_at: datetime | None):
    """The listing read directly (`mailbridge.store.listing`); None when the database is not the plain case."""
    if overdue_at is not None:
        return listing.overdue(url, now=overdue_at, queue=queue, limit=limit)
    return listing.list_tickets(url, queue=queue, status=status, limit=limit)


def _listed_by_the_orm(loaded: "Config", *, queue: str | None, status: str | None, limit: int,
                       overdue_at: datetime | None):
    """The same listing through the ORM: `database` opens the database, or names what is wrong with it."""
    from mailbridge.cli.common import database
    from mailbridge.store import repo, repo_clock

    # Reads that never wait for a writer (see `Database.reader`).
    with database(loaded) as db, db.reader().session() as session:
        if overdue_at is not None:
            return repo_clock.overdue(session=session, now=overdue_at, queue=queue, limit=limit)
        return repo.list_tickets(session=session, queue=queue, status=status, limit=limit)


@tickets_app.command("show", help=SHOW_HELP)
def show_command(
    code: CodeArgument,
    now: NowOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    from mailbridge.cli.common import database
    from mailbridge.outgoing import outbox
    from mailbridge.sla import clocks, present_clocks
    from mailbridge.store import repo

    loaded = config_or_exit(config)
    # Reads that never wait for a writer (see `Database.reader`).
    with database(loaded) as db, db.reader().session() as session:
        ticket = repo.ticket_by_code(code.strip().strip("[]"), session=session)
        if ticket is None:
            fail(f"no ticket {code}")
        participants = repo.participants_of(ticket.id, session=session)
        messages = repo.messages_of(ticket.id, session=session)
        attachments = repo.attachments_of([m.id for m in messages], session=session)
        sent = outbox.sent_for_ticket(ticket.id, session=session)
        timing = clocks.compute(ticket, session=session, config=loaded, now=now_from(now))
    if as_json:
        data = present.conversation_json(ticket, participants, messages, attachments, sent)
        print_json({**data, "clocks": [present_clocks.clock_json(c) for c in timing.clocks]})
    else:
        typer.echo(present.conversation_text(ticket, participants, messages, attachments, sent))
        typer.echo("\n".join(clocks.clock_text(ticket, timing, loaded)))


STATUS_HELP = """{summary}

{why} The change is recorded on the ticket, its SLA clocks follow it, and the customer's
{mail} mail is queued in the same transaction (`mailbridge serve` or `mailbridge outbox send`
delivers it). A ticket that cannot make the change from its current status is refused with one
line and exit status 1.

Examples:

    mailbridge tickets {action} DYN-000123
    mailbridge tickets {action} DYN-000123 --json
"""

# action → (one-line summary, when to use it, the customer's mail it queues)
_STATUS_TEXTS = {
    "resolve": ("Mark a ticket resolved and tell the customer.",
                "Use it when the request is answered. A customer reply reopens the ticket.", "'resolved'"),
    "close": ("Close a ticket for good and tell the customer.",
              "Use it when nothing more will happen. A customer reply within the reopen window reopens "
              "the ticket; a later one opens a new ticket linked to it.", "'closed'"),
    "reopen": ("Reopen a resolved or closed ticket.",
               "Use it when a ticket was resolved or closed too early; its clocks run again.", "'reopened'"),
}


def _status_command(action: str) -> None:
    summary, why, mail = _STATUS_TEXTS[action]

    @tickets_app.command(action, help=STATUS_HELP.format(summary=summary, why=why, mail=mail, action=action))
    def command(
        code: CodeArgument,
        as_json: JsonOption = False,
        config: ConfigOption = None,
    ) -> None:
        from mailbridge import status
        from mailbridge.cli.common import database, secret_for
        from mailbridge.store.types import utcnow

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


for _action in _STATUS_TEXTS:
    _status_command(_action)
