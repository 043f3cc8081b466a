"""`mailbridge imap check`: the command a sysadmin runs before `serve` to test the [[imap]] accounts."""

from __future__ import annotations

import typer

from mailbridge.cli import SETUP_PANEL, group
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, print_json

imap_app = group("imap", """Test the IMAP mailboxes that `mailbridge serve` reads.

Each `[[imap]]` table of the config names one mailbox (Microsoft 365, Gmail, Dovecot …) that
`mailbridge serve` polls next to its SMTP listener; `docs/imap.md` explains the keys. Check the
accounts here before the first start and after changing passwords or folders.

Examples:

    mailbridge imap check
""", SETUP_PANEL)

CHECK_HELP = """Log in to each `[[imap]]` account and report what it holds.

Prints, per account, the server's IDLE/MOVE/UIDPLUS support, the folder's message and unseen
counts, how stored mail will be marked (moved or flagged), and how many messages the backlog
rule would take at a first start. Nothing on the server is changed. Problems (a wrong password,
a missing folder, a server that cannot keep the keyword) go to standard error, one line each,
and the exit code is 1. With `--json`, one object per account (`account`, `ok`, `lines`,
`problems`) in a list on standard output.

Examples:

    mailbridge imap check
    mailbridge imap check --config /etc/mailbridge/mailbridge.toml
"""


@imap_app.command("check", help=CHECK_HELP)
def check_command(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    # Imported here so that other commands do not pay for imapclient.
    from mailbridge.sources.imap_check import check_accounts, config_tokens
    from mailbridge.store.types import utcnow

    loaded = config_or_exit(config, need_secrets=True)
    if not loaded.imap:
        if as_json:
            print_json([])
        else:
            typer.echo("no [[imap]] accounts in the config: nothing to check")
        return
    reports = check_accounts(loaded.imap, utcnow().date(), config_tokens(loaded))
    if as_json:
        print_json([{"account": r.account.name, "ok": not r.problems, "lines": r.lines, "problems": r.problems}
                    for r in reports])
        raise typer.Exit(1 if any(r.problems for r in reports) else 0)
    for report in reports:
        typer.echo("\n".join(report.lines))
    problems = [problem for report in reports for problem in report.problems]
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
