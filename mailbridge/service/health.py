"""How healthy mailbridge is: the database's backlog and each instance's heartbeat, judged.

`backlog` counts what waits in the database (pending and quarantined messages, the outbox by
state, overdue tickets, escalation ladders behind and steps failed, SMS by state); `judge` reads the instances' heartbeat rows and that backlog and says
healthy, degraded or down, with one line per problem. `mailbridge status` prints the verdict
and exits with its code; `serve` reports the same backlog in its heartbeat and its metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailbridge.store.db import Database
from mailbridge.store import heartbeat
from mailbridge.store.heartbeat import Heartbeat
from mailbridge.store.models import EscalationStep, Outbox, Quarantine, RawMessage, Sms, Ticket

# `serve` beats this often; an instance silent for STALE_AFTER is taken for dead.
HEARTBEAT_SECONDS = 10.0
STALE_AFTER = timedelta(seconds=HEARTBEAT_SECONDS * 3)
# Mail waiting this long for processing means processing is not keeping up (or not running).
BEHIND_AFTER = timedelta(minutes=10)
HEALTHY, DEGRADED, DOWN = "healthy", "degraded", "down"
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, DOWN: 2}

SMS_STATES = ("queued", "sent", "failed")


def backlog(db: Database, *, now: datetime) -> dict:
    """What waits in the database, counted in one short transaction."""
    with db.session() as session:
        pending, oldest = session.exec(
            select(func.count(), func.min(RawMessage.received_at)).where(RawMessage.state == "pending")).one()
        quarantined = session.exec(select(func.count()).select_from(Quarantine)
                                   .where(Quarantine.state == "held")).one()
        outbox = dict(session.exec(select(Outbox.state, func.count()).group_by(Outbox.state)).all())
        overdue = session.exec(select(func.count()).select_from(Ticket)
                               .where(col(Ticket.next_due_at) <= now)).one()
        escalation = _escalation(session, now)
        sms = dict(session.exec(select(Sms.state, func.count()).group_by(Sms.state)).all())
    return {
        "pending_messages": pending,
        "oldest_pending_at": oldest.isoformat() if oldest else None,
        "quarantined_messages": quarantined,
        "outbox": {state: outbox.get(state, 0) for state in ("queued", "held", "failed", "bounced", "sent")},
        "overdue_tickets": overdue,
        "escalation": escalation,
        "sms": {state: sms.get(state, 0) for state in SMS_STATES},
    }


def _escalation(session: Session, now: datetime) -> dict:
    """Tickets whose ladder step is due but not run for BEHIND_AFTER (the tick is not running), failed steps."""
    behind = session.exec(select(func.count()).select_from(Ticket)
                          .where(col(Ticket.escalate_at) <= now - BEHIND_AFTER)).one()
    failed = session.exec(select(func.count()).select_from(EscalationStep)
                          .where(EscalationStep.state == "failed")).one()
    return {"behind_tickets": behind, "failed_steps": failed}


@dataclass
class Verdict:
    """The judgement: a state, its exit code, the instances as seen, and what is wrong."""

    state: str
    instances: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]


def judge(rows: list[Heartbeat], counts: dict, *, now: datetime) -> Verdict:
    """Healthy: an instance runs and nothing is wrong; degraded: one runs but something is; down: none runs."""
    instances = [_instance(row, rows, now=now) for row in rows]
    running = [i for i in instances if i["state"] == "running"]
    problems = [p for i in instances for p in i["problems"]]
    oldest = counts.get("oldest_pending_at")
    if oldest and now - datetime.fromisoformat(oldest) > BEHIND_AFTER:
        problems.append(f"{counts['pending_messages']} message(s) waiting for processing since {oldest}")
    if counts.get("outbox", {}).get("failed"):
        problems.append(f"{counts['outbox']['failed']} outgoing mail(s) failed for good "
                        "(`mailbridge outbox list --state failed`)")
    if counts.get("sms", {}).get("failed"):
        problems.append(f"{counts['sms']['failed']} SMS failed for good (`mailbridge escalations list`)")
    if counts.get("escalation", {}).get("behind_tickets"):
        problems.append(f"{counts['escalation']['behind_tickets']} ticket(s) with an escalation step due for "
                        f"over {int(BEHIND_AFTER.total_seconds() // 60)} minutes: is the escalation tick running?")
    if not running:
        return Verdict(DOWN, instances, ["no mailbridge instance is running", *problems])
    return Verdict(DEGRADED if problems else HEALTHY, instances, problems)


def _instance(row: Heartbeat, rows: list[Heartbeat], *, now: datetime) -> dict:
    state = _liveness(row, rows, now=now)
    seen = {
        "instance": row.instance, "host": row.host, "pid": row.pid, "version": row.version,
        "state": state, "up_since": row.started_at.isoformat(), "last_beat": row.beat_at.isoformat(),
        "stopped_at": row.stopped_at.isoformat() if row.stopped_at else None, **row.state,
    }
    seen["problems"] = _problems(row, state)
    return seen


def _liveness(row: Heartbeat, rows: list[Heartbeat], *, now: datetime) -> str:
    if row.stopped_at is not None:
        return "stopped"
    if now - row.beat_at <= STALE_AFTER:
        return "running"
    # A crashed instance that systemd has since restarted on the same host is history, not a problem.
    newer = any(other.host == row.host and other.started_at > row.started_at for other in rows)
    return "replaced" if newer else "silent"


def _problems(row: Heartbeat, state: str) -> list[str]:
    name = f"{row.host} pid {row.pid}"
    if state == "silent":
        return [f"{name}: no heartbeat since {row.beat_at.isoformat(timespec='seconds')} "
                "(stopped without saying so, hung, or its host is down)"]
    if state != "running":
        return []
    problems = []
    if not row.state.get("worker", {}).get("alive", False):
        problems.append(f"{name}: the processing worker is not running")
    # Heartbeats written before the sender had a process of its own have no "sender": their worker sent.
    if not row.state.get("sender", {"alive": True}).get("alive", False):
        problems.append(f"{name}: the sender (outgoing mail) is not running")
    if row.state.get("listener", {}).get("state", "listening") != "listening":
        problems.append(f"{name}: the listener is not listening")
    for account in row.state.get("imap", []):
        if account.get("state") == "failing":
            problems.append(f"{name}: IMAP {account['account']}: {account.get('problem') or 'failing'}")
    return problems


def status(db: Database, *, now: datetime) -> tuple[Verdict, dict]:
    """The verdict on every instance sharing `db`, and the database's backlog it was judged with."""
    counts = backlog(db, now=now)
    return judge(heartbeat.instances(db), counts, now=now), counts
