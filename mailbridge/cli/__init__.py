"""The `mailbridge` command: one thin typer function per command, the work done elsewhere.

Exit codes: 0 ok, 1 failure, 2 usage (typer's own). Each command group lives in its own
module below and is registered here, so this file reads as the table of contents.
"""

import typer

app = typer.Typer(
    name="mailbridge",
    help="Email-to-ticket daemon: takes support mail in, threads it onto tickets, keeps SLA clocks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported here so that each module can `from mailbridge.cli import app` without a cycle.
    from mailbridge.cli import config_cmd  # noqa: F401
    from mailbridge.cli import db_cmd  # noqa: F401
    from mailbridge.cli import parse_cmd  # noqa: F401
    from mailbridge.cli import ingest_cmd  # noqa: F401
    from mailbridge.cli import tickets_cmd  # noqa: F401
    from mailbridge.cli import tickets_sla_cmd  # noqa: F401
    from mailbridge.cli import explain_cmd  # noqa: F401
    from mailbridge.cli import quarantine_cmd  # noqa: F401
    from mailbridge.cli import serve_cmd  # noqa: F401
    from mailbridge.cli import outbox_cmd  # noqa: F401
    from mailbridge.cli import calendar_cmd  # noqa: F401
    from mailbridge.cli import imap_cmd  # noqa: F401


def main() -> None:
    """Console-script entry point."""
    _register()
    app()
