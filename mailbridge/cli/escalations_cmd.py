"""`mailbridge escalations run|list`: one escalation tick by hand, and what the ladders did and will do."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from mailbridge.cli import TICKETS_PANEL, group
from mailbridge.cli.clock_options import NowOption, now_from
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, print_json
from mailbridge.escalation import report, tick
from mailbridge.escalation.sms.choose import provider_for
from mailbridge.escalation.sms.sender import deliver_due
from mailbridge.sla.present_clocks import local

escalations_app = group("escalations", """Escalation: who is alerted when an answer is late.

`mailbridge serve` runs the ladders of `[escalation]` by itself: each step once, at its time,
within business hours unless it says `any_time`. These commands run one tick by hand (cron,
catching up after downtime, trying a ladder) and show what was done, is due, failed or was skipped.

Examples:

    mailbridge escalations list --ticket DYN-000123
    mailbridge escalations run
""", TICKETS_PANEL)

RUN_HELP = """Run the escalation steps due now, then send due SMS.

With `--now`, as of that instant instead.
Does what one tick of `mailbridge serve` does: each due step runs once, even when serve is
running too (the steps are claimed in the database). The e-mails it queues are sent by serve or
by `mailbridge outbox send`. Prints one line per step run.

Examples:

    mailbridge escalations run
    mailbridge escalations run --now 2026-11-23T11:00:00+01:00
"""

LIST_HELP = """List escalation steps: done, failed, skipped and due.

A done step lists what it did (e-mail and SMS queued, priority raised, owner changed) and each
SMS's state; a failed one the gateway's answer; a skipped one why (no owner, no number). The due
steps of open tickets follow with the time they run, and steps their clock made unnecessary are
shown as skipped with the time it was met.

Examples:

    mailbridge escalations list
    mailbridge escalations list --ticket DYN-000123 --json
"""

TicketOption = Annotated[str | None, typer.Option("--ticket", metavar="CODE", help="Only this ticket.",
                                                  show_default="every ticket with steps")]


@escalations_app.command("run", help=RUN_HELP)
def run_command(config: ConfigOption = None, now: NowOption = None) -> None:
    loaded = config_or_exit(config)
    instant = now_from(now)
    if not loaded.escalation.ladders:
        typer.echo("no [[escalation.ladders]] in the config: nothing escalates")
    with database(loaded) as db:
        ticked = tick.run_due(db=db, config=loaded, secret=loaded.secret_bytes(), now=instant)
        sent = deliver_due(db=db, config=loaded, provider=provider_for(loaded), clock=lambda: instant)
    for line in ticked.lines:
        typer.echo(line)
    typer.echo(f"{ticked.steps} step(s) run on {ticked.tickets} ticket(s); SMS sent {sent.sent}, "
               f"retrying {sent.retried}, failed {sent.failed}")


@escalations_app.command("list", help=LIST_HELP)
def list_command(config: ConfigOption = None, ticket: TicketOption = None, as_json: JsonOption = False,
                 now: NowOption = None) -> None:
    loaded = config_or_exit(config)
    with database(loaded) as db:
        # Reads that never wait for a writer (see `Database.reader`).
        found = report.steps(db=db.reader(), config=loaded, now=now_from(now), ticket_code=ticket)
    if as_json:
        for item in found:
            print_json(item.as_json())
        return
    if not found:
        typer.echo("no escalation steps" + (f" for {ticket}" if ticket else ""))
    for item in found:
        _print(item)


def _print(item: report.StepReport) -> None:
    zone = ZoneInfo(item.zone)
    verb = "runs" if item.state == "due" else "ran" if item.state in ("done", "failed") else "at"
    when = f"{verb} {local(item.at, zone)}"
    if local(item.due_at, zone) != local(item.at, zone):
        when += f" (due {local(item.due_at, zone)})"
    step = f"{item.ladder} step {item.step}" if item.step else item.ladder
    typer.echo(f"{item.ticket:<12} {item.state:<8} {step} ({item.clock})  {when}  [{item.zone}]")
    for line in item.detail:
        typer.echo(f"    {line}")
    for sms in item.sms:
        error = f"  {sms['error']}" if sms["error"] else ""
        typer.echo(f"    sms {sms['to']} {sms['state']} (attempts {sms['attempts']}){error}")
