"""The `mailbridge` command: one thin typer function per command, the work done elsewhere.

Exit codes: 0 ok, 1 failure, 2 usage (typer's own). Each command group lives in its own
module below and is registered here, so this file reads as the table of contents.

Help is Markdown everywhere (`rich_markup_mode="markdown"`): paragraphs may be wrapped in the
source and are reflowed to the terminal's width, examples are indented code blocks, and names
with brackets go in backticks (Rich markup would swallow `[imap]`, Markdown an `<name>`).
Each help text opens with a one-line summary short enough for the command lists at 80 columns.
"""

from typing import Annotated

import typer

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

app = typer.Typer(
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
    # Imported here so that each module can `from mailbridge.cli import app` without a cycle.
    # The import order is the order of the commands in `mailbridge --help`.
    from mailbridge.cli import config_cmd  # noqa: F401
    from mailbridge.cli import db_cmd  # noqa: F401
    from mailbridge.cli import calendar_cmd  # noqa: F401
    from mailbridge.cli import imap_cmd  # noqa: F401
    from mailbridge.cli import serve_cmd  # noqa: F401
    from mailbridge.cli import ingest_cmd  # noqa: F401
    from mailbridge.cli import parse_cmd  # noqa: F401
    from mailbridge.cli import explain_cmd  # noqa: F401
    from mailbridge.cli import tickets_cmd  # noqa: F401
    from mailbridge.cli import tickets_sla_cmd  # noqa: F401
    from mailbridge.cli import outbox_cmd  # noqa: F401
    from mailbridge.cli import quarantine_cmd  # noqa: F401
    from mailbridge.cli import status_cmd  # noqa: F401
    from mailbridge.cli import ops_cmd  # noqa: F401
    from mailbridge.cli import oauth_cmd  # noqa: F401
    from mailbridge.cli import escalations_cmd  # noqa: F401
    from mailbridge.cli import sms_cmd  # noqa: F401

def main() -> None:
    """Console-script entry point."""
    _register()
    app()
