"""`mailbridge explain MESSAGE-ID`: why a stored message went to its queue and ticket."""

from __future__ import annotations

from typing import Annotated

import typer

from mailbridge import present
from mailbridge.cli import MAIL_PANEL, app
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, fail, print_json
from mailbridge.store import repo
from mailbridge.store.models import Ticket

HELP = """Say why a stored message went to its queue and ticket.

Use it when a mail landed in the wrong queue or on the wrong ticket (or opened a new one when it
should not have). It names the routing rule and the header that chose the queue, and the
threading rule that chose the ticket: a signed reply token, one of our Message-IDs, a stored
reference, a ticket code in the subject, or none (a new ticket), with the detail that decided.

MESSAGE-ID is the message's Message-ID, with or without the angle brackets; a message that had
none is known by the derived id that `mailbridge tickets show CODE --json` lists.

Examples:

    mailbridge explain '<CAGmail-reply-2@mail.gmail.com>'
    mailbridge explain CAGmail-reply-2@mail.gmail.com --json
"""


@app.command("explain", help=HELP, rich_help_panel=MAIL_PANEL)
def explain_command(
    message_id: Annotated[str, typer.Argument(help="The Message-ID, with or without <>.", metavar="MESSAGE-ID", show_default=False)],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    loaded = config_or_exit(config)
    # Reads that never wait for a writer (see `Database.reader`).
    with database(loaded) as db, db.reader().session() as session:
        message = repo.message_by_message_id(message_id, session=session)
        if message is None:
            fail(f"no stored message with Message-ID <{message_id.strip().strip('<>')}>")
        ticket = session.get(Ticket, message.ticket_id) if message.ticket_id is not None else None
        raw = repo.raw_message(message.raw_id, session=session) if message.raw_id is not None else None
    if as_json:
        print_json(present.explanation_json(message, ticket, raw))
    else:
        typer.echo(present.explanation_text(message, ticket, raw))
