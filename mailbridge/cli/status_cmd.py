"""`mailbridge status`: is mailbridge running and keeping up? For people and for monitoring checks."""

from __future__ import annotations

from datetime import datetime

import typer

from mailbridge.cli import SETUP_PANEL, app
from mailbridge.cli.common import ConfigOption, JsonOption, config_or_exit, database, print_json
from mailbridge.service import health
from mailbridge.store.types import utcnow

HELP = """Is mailbridge running and keeping up? Exit 0, 1 or 2.

Reads the heartbeat every running `mailbridge serve` writes to the database every 10 seconds,
so it sees every instance sharing the database, from any host that reaches it. Per instance:
host and pid, version, up since, the listener, the processing worker, each IMAP account, the
spool backlog and the last deadline tick. For the whole database: messages waiting for
processing, quarantined messages, outgoing mail by state and overdue tickets.

**healthy** (exit 0): an instance runs and nothing is wrong. **degraded** (exit 1): one runs,
but a worker does not answer, an IMAP login fails, an instance went silent, mail waits for
processing for more than 10 minutes, or outgoing mail failed for good. **down** (exit 2): no
instance runs, or the database cannot be read. The exit codes suit a monitoring check (Nagios,
Icinga, a systemd timer); `--json` gives the same as one object.

Examples:

    mailbridge status
    mailbridge status --json | jq .state
"""


@app.command("status", help=HELP, rich_help_panel=SETUP_PANEL)
def status_command(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    loaded = config_or_exit(config)
    now = utcnow()
    try:
        with database(loaded) as db:
            # Reads that never wait for a writer: a worker hung inside its transaction is what
            # a monitor runs this to find.
            verdict, counts = health.status(db.reader(), now=now)
    except typer.Exit:
        # No database, or none reachable (the line saying so is printed): for a monitor, down.
        raise typer.Exit(health.EXIT_CODES[health.DOWN]) from None
    if as_json:
        print_json({"state": verdict.state, "exit_code": verdict.exit_code, "checked_at": now.isoformat(),
                    "instances": verdict.instances, "database": counts, "problems": verdict.problems})
    else:
        typer.echo("\n".join(_text(verdict, counts, now)))
    raise typer.Exit(verdict.exit_code)


def _text(verdict: health.Verdict, counts: dict, now: datetime) -> list[str]:
    running = sum(1 for i in verdict.instances if i["state"] == "running")
    lines = [f"mailbridge: {verdict.state} ({running} instance(s) running)"]
    for instance in verdict.instances:
        lines += _instance_lines(instance, now)
    if counts:
        outbox = counts["outbox"]
        lines.append(f"database: {counts['pending_messages']} message(s) waiting for processing, "
                     f"{counts['quarantined_messages']} quarantined, {counts['overdue_tickets']} overdue ticket(s)")
        lines.append(f"outbox: {outbox['queued']} queued, {outbox['held']} held, {outbox['failed']} failed, "
                     f"{outbox['bounced']} bounced, {outbox['sent']} sent")
        escalation, sms = counts.get("escalation", {}), counts.get("sms", {})
        lines.append(f"escalation: {escalation.get('behind_tickets', 0)} ticket(s) behind, "
                     f"{escalation.get('failed_steps', 0)} step(s) failed; SMS: {sms.get('queued', 0)} queued, "
                     f"{sms.get('sent', 0)} sent, {sms.get('failed', 0)} failed")
    lines += [f"problem: {problem}" for problem in verdict.problems]
    return lines


def _worker_processes(worker: dict) -> str:
    """`pid 4250`, or `3 processes: pids 4250, 4251, 4252`, with the parser processes if any."""
    pids = worker.get("pids") or [worker.get("pid")]
    text = f"pid {pids[0]}" if len(pids) == 1 else f"{len(pids)} processes: pids {', '.join(map(str, pids))}"
    return text + (f", {worker['parsers']} parser process(es)" if worker.get("parsers") else "")


def _sender_line(sender: dict | None) -> list[str]:
    # None: a heartbeat from before the sender had a process of its own.
    if sender is None:
        return []
    return [f"  sender: {'alive' if sender.get('alive') else 'NOT ANSWERING'} (pid {sender.get('pid')}, "
            f"{sender.get('restarts', 0)} restart(s))"]


def _instance_lines(instance: dict, now: datetime) -> list[str]:
    beat = datetime.fromisoformat(instance["last_beat"])
    head = (f"{instance['host']} pid {instance['pid']} (mailbridge {instance['version']}): {instance['state']}, "
            f"up since {instance['up_since'][:19]}Z, last heartbeat {int((now - beat).total_seconds())} s ago")
    if instance["state"] != "running":
        return [head]
    listener, worker = instance.get("listener", {}), instance.get("worker", {})
    lines = [head,
             f"  listener: {listener.get('protocol', '?').upper()} on {listener.get('address', '?')}, "
             f"{listener.get('state', '?')}",
             f"  worker: {'alive' if worker.get('alive') else 'NOT ANSWERING'} ({_worker_processes(worker)}, "
             f"{worker.get('restarts', 0)} restart(s))",
             *_sender_line(instance.get("sender")),
             f"  spool backlog: {instance.get('spool_backlog', 0)}; last deadline tick: "
             f"{(instance.get('last_tick_at') or 'none yet')[:19]}"]
    for account in instance.get("imap", []):
        problem = f": {account['problem']}" if account.get("problem") else ""
        lines.append(f"  IMAP {account['account']}: {account['state']}{problem}")
    if instance.get("metrics"):
        lines.append(f"  metrics: http://{instance['metrics']}/metrics")
    return lines
