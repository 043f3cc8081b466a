"""The `mailbridge` command: one thin typer function per command, the work done elsewhere.

Exit codes: 0 ok, 1 failure, 2 usage (typer's own). Each command or command group lives in
its own module below; `COMMANDS` here names them with their one-line summaries, so this file
reads as the table of contents. A command's module is imported only when that command runs
(`mailbridge.cli.lazy`): `mailbridge parse` must not pay for SQLAlchemy, alembic and the
pipeline, and `mailbridge --help` lists every command without importing any.

Help is Markdown everywhere (`rich_markup_mode="markdown"`): paragraphs may be wrapped in the
source and are reflowed to the terminal's width, examples are indented code blocks, and names
with brackets go in backticks (Rich markup would swallow `[imap]`, Markdown an `<name>`).
Each help text opens with a one-line summary short enough for the command lists at 80 columns.
"""

from typing import Annotated

import typer

# Start-up (issue 17): plain option values converted without pydantic (coercion), no garbage
# collection until the command is loaded (startup_gc).
from mailbridge.cli import startup_gc
from mailbridge.cli.coercion import child_context, install
from mailbridge.cli.lazy import Entry, LazyGroup

MARKUP = "markdown"
# Panels of the top-level command list, in the order a new installation meets them.
SETUP_PANEL = "Set up and run"
MAIL_PANEL = "Mail in"
TICKETS_PANEL = "Tickets and mail out"

HELP = """Turn support mail into tickets and look after them.

mailbridge takes the mail of your support addresses from your MTA (SMTP or LMTP) and from IMAP
mailboxes, files each message on a ticket, acknowledges it to the customer, notifies the
queue's agents and keeps the SLA clocks. `mailbridge serve` is the
daemon; the other commands check its setup, feed it mail files and show what it did.

Every command reads one TOML config file: `--config FILE`, else `$MAILBRIDGE_CONFIG`, else
`/etc/mailbridge/mailbridge.toml`. Exit status: 0 done, 1 failed (one line per problem on
standard error), 2 wrong usage. `mailbridge COMMAND --help` explains each command.

Commands that only read never create a database: when they find none they say where they
looked (run them with the service's config; see docs/operations.md). Shell completion:
`mailbridge --install-completion`, or `mailbridge --show-completion bash` to see the script.

Examples:

    mailbridge check-config --config mailbridge.toml
    mailbridge db upgrade
    mailbridge serve
    mailbridge status
    mailbridge tickets list --overdue
"""

# name → (modules, panel, summary), in the order of `mailbridge --help`. The summary is the first
# paragraph of the command's own help (tests/test_cli_help.py keeps the two equal).
COMMANDS = {
    "check-config": Entry(("config_cmd",), SETUP_PANEL,
                          "Check the config file and say what mailbridge understood."),
    "serve": Entry(("serve_cmd",), SETUP_PANEL, "Run the daemon: take mail in, make tickets, send mail out."),
    "ingest": Entry(("ingest_cmd",), MAIL_PANEL, "Read mail files into tickets: .eml, mbox or Maildir."),
    "parse": Entry(("parse_cmd",), MAIL_PANEL, "Show what mailbridge reads in mail files; stores nothing."),
    "explain": Entry(("explain_cmd",), MAIL_PANEL, "Say why a stored message went to its queue and ticket."),
    "status": Entry(("status_cmd",), SETUP_PANEL, "Is mailbridge running and keeping up? Exit 0, 1 or 2."),
    "systemd-unit": Entry(("ops_cmd",), SETUP_PANEL, "Print a systemd unit that runs this mailbridge."),
    "backup": Entry(("ops_cmd",), SETUP_PANEL, "Copy the SQLite database to PATH while mailbridge runs."),
    "db": Entry(("db_cmd",), SETUP_PANEL, "Create or upgrade the database schema."),
    "calendar": Entry(("calendar_cmd",), SETUP_PANEL,
                      "Check the business-hours calendars the SLA clocks count in."),
    "imap": Entry(("imap_cmd",), SETUP_PANEL, "Test the IMAP mailboxes that `mailbridge serve` reads."),
    "tickets": Entry(("tickets_cmd", "tickets_sla_cmd"), TICKETS_PANEL,
                     "Look at tickets and conversations; change their status."),
    "outbox": Entry(("outbox_cmd",), TICKETS_PANEL, "See the mail mailbridge sends, and unstick it."),
    "quarantine": Entry(("quarantine_cmd",), TICKETS_PANEL, "Look at mail that failed a stage; retry or drop it."),
    "oauth": Entry(("oauth_cmd",), SETUP_PANEL, "Log mailboxes in to Gmail and Microsoft 365 with OAuth 2.0."),
    "escalations": Entry(("escalations_cmd",), TICKETS_PANEL, "Escalation: who is alerted when an answer is late."),
    "sms": Entry(("sms_cmd",), SETUP_PANEL, "SMS for escalations: try the gateway of `[sms]`."),
}


class _Commands(LazyGroup):
    """The top-level group: the commands of `COMMANDS`, each imported when it is used."""

    package = __name__
    entries = COMMANDS

    def load(self, name: str):
        # The modules registered their commands on `app` when they were imported; typer builds
        # the click commands from what is registered.
        return typer.main.get_command(app).commands.get(name)

    def parse_args(self, ctx, args):
        # The group's own options (`--version`, the completion ones) are converted before any
        # command is loaded.
        install(self, ctx)
        return super().parse_args(ctx, args)

    def get_command(self, ctx, cmd_name: str):
        command = super().get_command(ctx, cmd_name)
        if command is not None and not self._listing:
            install(command, child_context(command, cmd_name, ctx))
            startup_gc.resume()  # the command is loaded: start-up is over
        return command


app = typer.Typer(
    cls=_Commands,
    name="mailbridge",
    help=HELP,
    rich_markup_mode=MARKUP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"mailbridge {version('mailbridge')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False,
) -> None:
    pass


def group(name: str, help_text: str, panel: str) -> typer.Typer:
    """A command group (`mailbridge NAME …`) registered on the app, with the app's help style."""
    # Groups do not inherit the markup mode of the app they join, so each one is given it here.
    sub = typer.Typer(help=help_text, rich_markup_mode=MARKUP, no_args_is_help=True)
    app.add_typer(sub, name=name, rich_help_panel=panel)
    return sub


def _register() -> None:
    """Import every command module now, for tests and tools that walk the whole command tree.

    `main()` does not: each command is imported when it is used (see `_Commands`).
    """
    for name in COMMANDS:
        _Commands.import_modules(name)


def main() -> None:
    """Console-script entry point."""
    startup_gc.pause()
    try:
        app()
    finally:
        startup_gc.resume()
