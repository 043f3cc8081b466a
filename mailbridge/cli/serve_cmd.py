"""`mailbridge serve`: the daemon, the SMTP/LMTP listener fed by the site's MTA and its processing."""

from __future__ import annotations

from typing import Annotated

import typer

from mailbridge.cli import app
from mailbridge.cli.common import ConfigOption, config_or_exit, database, fail
from mailbridge.errors import MailbridgeError

HELP = """Take mail from the MTA over SMTP or LMTP and turn it into tickets, until SIGTERM/SIGINT.

Listens where `[listener]` says (default 127.0.0.1:2525, SMTP), accepts only the queue
addresses, answers 250 only once a message is stored, and logs one line per message. A bad
config prints one line per problem and exits 1; so does a port already in use.

Examples:  mailbridge serve --config config/mailbridge.example.toml
           swaks --server 127.0.0.1:2525 --to pomoc-dynamics@example.com
"""

LogLevelOption = Annotated[
    str | None,
    typer.Option("--log-level", help="debug, info, warning or error. Default: [listener] log_level.",
                  show_default=False),
]


@app.command("serve", help=HELP)
def serve(config: ConfigOption = None, log_level: LogLevelOption = None) -> None:
    # Imported here so that other commands do not pay for asyncio, aiosmtpd and the pipeline.
    from mailbridge import daemon

    if log_level is not None and log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("must be debug, info, warning or error", param_hint="--log-level")
    loaded = config_or_exit(config)
    with database(loaded) as db:
        try:
            code = daemon.run(loaded, db, log_level=log_level)
        except MailbridgeError as exc:
            fail(str(exc))
    raise typer.Exit(code)
