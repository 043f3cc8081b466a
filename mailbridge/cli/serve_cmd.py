"""`mailbridge serve`: the daemon, the SMTP/LMTP listener fed by the site's MTA and its processing."""

from __future__ import annotations

from typing import Annotated

import typer

from mailbridge.cli import SETUP_PANEL, app
from mailbridge.cli.common import ConfigOption, config_or_exit, database, fail
from mailbridge.errors import MailbridgeError
from mailbridge.service.leave import leave

HELP = """Run the daemon: take mail in, make tickets, send mail out.

This is what the systemd unit runs. It listens for the MTA where `[listener]` says (default
127.0.0.1:2525, SMTP or LMTP), accepts only the queue addresses; it polls the `[[imap]]` mailboxes; it processes each message, sends the
outbox (acknowledgements, notifications, status mail) and warns agents of legal deadlines,
until SIGTERM or SIGINT. It logs one line per message.

The listener answers 250 once a message is written and synced to its spool on disk (451 when
it cannot be, so the MTA retries); the processing worker, a process of its own, then moves it
into the database, processes it and queues the mail it causes.

Under systemd (`Type=notify`) it reports READY once listening, sends watchdog pings while its
processing worker answers, and reloads its config on SIGHUP (`systemctl reload mailbridge`:
queues, templates, calendars and policies; a config that does not load is refused and the
running one kept). Each running instance writes a heartbeat that `mailbridge status` reads;
with `[metrics] listen` set it serves Prometheus metrics at /metrics.

Logs: one line per event on standard error; under journald with a syslog priority (`<3>` …)
so `journalctl -p warning` works; `--log-format json` for log pipelines. Reply tokens and
passwords are never logged.

A bad config prints one line per problem and exits 1, and so does a port already in use. Run
`mailbridge check-config --connect` and `mailbridge db upgrade` first.

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


LogFormatOption = Annotated[
    str | None,
    typer.Option("--log-format", metavar="FORMAT", help="text, journal (syslog priorities) or json.",
                 show_default="journal under journald, else text"),
]


@app.command("serve", help=HELP, rich_help_panel=SETUP_PANEL)
def serve(config: ConfigOption = None, log_level: LogLevelOption = None, log_format: LogFormatOption = None) -> None:
    # Imported here so that other commands do not pay for asyncio, aiosmtpd and the pipeline.
    from mailbridge.service import daemon

    if log_level is not None and log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("must be debug, info, warning or error", param_hint="--log-level")
    if log_format is not None and log_format not in ("text", "journal", "json"):
        raise typer.BadParameter("must be text, journal or json", param_hint="--log-format")
    loaded = config_or_exit(config, need_secrets=True)
    with database(loaded, create=True) as db:
        try:
            code = daemon.run(loaded, db, log_level=log_level, log_format=log_format)
        except MailbridgeError as exc:
            fail(str(exc))
    # Stopped and its database closed: systemd need not wait for Python's teardown too.
    leave(code)
