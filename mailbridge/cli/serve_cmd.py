"""`mailbridge serve`: the daemon, the SMTP/LMTP listener fed by the site's MTA and its processing."""

from __future__ import annotations

from typing import Annotated

import typer

from mailbridge.cli import SETUP_PANEL, app
from mailbridge.cli.common import ConfigOption, config_or_exit, database, fail
from mailbridge.errors import MailbridgeError

HELP = """Run the daemon: take mail in, make tickets, send mail out.

This is what the systemd unit runs. It listens for the MTA where `[listener]` says (default
127.0.0.1:2525, SMTP or LMTP), accepts only the queue addresses and answers 250 only once a
message is stored; it polls the `[[imap]]` mailboxes; it processes each message, sends the
outbox (acknowledgements, notifications, status mail) and warns agents of legal deadlines,
until SIGTERM or SIGINT. It logs one line per message.

A bad config prints one line per problem and exits 1, and so does a port already in use. Run
`mailbridge check-config` and `mailbridge db upgrade` first.

Examples:

    mailbridge serve --config /etc/mailbridge/mailbridge.toml
    mailbridge serve --log-level debug

and, from another shell, a test mail (with swaks):

    swaks --server 127.0.0.1:2525 --to pomoc-dynamics@example.com
"""

LogLevelOption = Annotated[
    str | None,
    typer.Option("--log-level", metavar="LEVEL", help="How much to log: debug, info, warning or error.",
                 show_default="log_level in [listener], else info"),
]


@app.command("serve", help=HELP, rich_help_panel=SETUP_PANEL)
def serve(config: ConfigOption = None, log_level: LogLevelOption = None) -> None:
    # Imported here so that other commands do not pay for asyncio, aiosmtpd and the pipeline.
    from mailbridge.service import daemon

    if log_level is not None and log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("must be debug, info, warning or error", param_hint="--log-level")
    loaded = config_or_exit(config, need_secrets=True)
    with database(loaded, create=True) as db:
        try:
            code = daemon.run(loaded, db, log_level=log_level)
        except MailbridgeError as exc:
            fail(str(exc))
    raise typer.Exit(code)
