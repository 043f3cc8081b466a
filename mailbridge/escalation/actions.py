"""Carry out one ladder step inside the transaction that claims it: mail, SMS, priority, owner.

The step's row is inserted first (its (ticket, key) is unique: a step claimed before is not run
again); its mails go through the outbox with the intent `esc:<step id>:<address>` and its SMS into
the SMS queue with `esc:<step id>:<number>`, both unique, so nothing a step does can happen twice.
What each action did, or why it could not (no owner, no number), is kept in the row's `detail`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from mailbridge.config.models import Config, QueueConfig
from mailbridge.escalation import sms_text
from mailbridge.escalation.plan import PlannedStep
from mailbridge.escalation.sms import queue as sms_queue
from mailbridge.outgoing import notify
from mailbridge.outgoing.templates import mail_context
from mailbridge.sla import clocks
from mailbridge.sla.present_clocks import spoken
from mailbridge.status import customer_thread
from mailbridge.store.models import EscalationStep, Ticket
from mailbridge.store.repo import insert_ignoring_conflicts

PRIORITY_RANK = {"routine": 0, "urgent": 1, "critical": 2}


def claim_step(ticket: Ticket, planned: PlannedStep, *, session: Session, now: datetime) -> EscalationStep | None:
    """Insert the step's row; None when it was claimed before (by this or another instance)."""
    values = {"ticket_id": ticket.id, "key": planned.key[:200], "ladder": planned.ladder, "step": planned.index,
              "clock": planned.clock, "due_at": planned.due_at, "ran_at": now, "state": "done", "detail": []}
    table = EscalationStep.__table__
    if session.execute(insert_ignoring_conflicts(session, table, values, ["ticket_id", "key"])).rowcount == 0:
        return None
    return session.exec(select(EscalationStep).where(EscalationStep.ticket_id == ticket.id,
                                                     EscalationStep.key == planned.key[:200])).one()


def run_step(ticket: Ticket, planned: PlannedStep, row: EscalationStep, *, session: Session, config: Config,
             secret: bytes, now: datetime) -> list[str]:
    """Do what the step says; the lines of its `detail`, which the row keeps."""
    queue = config.queue(ticket.queue)
    step = planned.step
    detail: list[str] = []
    if step.raise_priority:
        detail.append(_raise(ticket, step.raise_priority, session=session, config=config, now=now))
    if step.reassign:
        detail.append(_reassign(ticket, step.reassign, config=config))
    addresses, missing = _addresses(step.email, ticket, queue, config)
    numbers, unphoned = _numbers(step.sms, ticket, queue, config)
    about = _escalation_values(ticket, planned, queue, now, alerted=[*addresses, *numbers])
    detail += missing + _mails(ticket, row, queue, addresses, about, session=session, config=config, secret=secret,
                               now=now)
    detail += unphoned + _sms(ticket, row, queue, numbers, about, session=session, config=config, now=now)
    row.detail = detail
    if not any(line.endswith("queued") or "→" in line for line in detail):
        row.state = "skipped"
    session.add(row)
    return detail


def _raise(ticket: Ticket, priority: str, *, session: Session, config: Config, now: datetime) -> str:
    before = ticket.priority
    if PRIORITY_RANK.get(before, 0) >= PRIORITY_RANK[priority]:
        return f"priority already {before}"
    ticket.priority = priority
    ticket.updated_at = now
    session.add(ticket)
    session.flush()
    clocks.refresh(ticket, session=session, config=config, now=now)
    return f"priority {before} → {priority}"


def _reassign(ticket: Ticket, target: str, *, config: Config) -> str:
    people = {"on_call": config.escalation.on_call, "lead": config.escalation.lead}.get(target, (target,))
    if not people:
        return f"reassign to {target} skipped: [escalation] {target} is empty"
    before, ticket.owner = ticket.owner, people[0]
    return f"owner {before or '-'} → {people[0]}"


def _people(role: str, ticket: Ticket, queue: QueueConfig, config: Config) -> tuple[str, ...]:
    if role == "owner":
        return (ticket.owner,) if ticket.owner else ()
    if role == "agents":
        return tuple(a.lower() for a in queue.agents)
    if role in ("on_call", "lead"):
        return getattr(config.escalation, role)
    return (role,)


def _addresses(targets, ticket: Ticket, queue: QueueConfig, config: Config) -> tuple[list[str], list[str]]:
    found, missing = [], []
    for target in targets:
        people = _people(target, ticket, queue, config)
        if not people:
            missing.append(f"e-mail to {target} skipped: {_nobody(target)}")
        found += [p.lower() for p in people]
    return list(dict.fromkeys(found)), missing


def _numbers(targets, ticket: Ticket, queue: QueueConfig, config: Config) -> tuple[list[str], list[str]]:
    found, missing = [], []
    for target in targets:
        if target.startswith("+"):
            found.append(target)
            continue
        people = _people(target, ticket, queue, config)
        if not people:
            missing.append(f"sms to {target} skipped: {_nobody(target)}")
        for person in people:
            number = config.escalation.phone_of(person)
            if number:
                found.append(number)
            else:
                missing.append(f"sms to {person} skipped: no number in [escalation.phones]")
    return list(dict.fromkeys(found)), missing


def _nobody(role: str) -> str:
    return {"owner": "the ticket has no owner", "agents": "the queue has no agents",
            "on_call": "[escalation] on_call is empty", "lead": "[escalation] lead is empty"}.get(role, "nobody")


def _escalation_values(ticket: Ticket, planned: PlannedStep, queue: QueueConfig, now: datetime, *,
                       alerted: list[str]) -> dict:
    """The `escalation.*` variables: which step, how long the customer waits, how late the answer is."""
    zone = ZoneInfo(queue.time_zone)
    due = ticket.next_due_at
    late = now - due if due is not None and now > due else timedelta(0)
    return {"ladder": planned.ladder, "step": str(planned.index + 1),
            "waiting": hours(now - planned.cycle_start),
            "late": hours(late) if late else "", "due": spoken(due, zone, queue.language) if due else "",
            "alerted": ", ".join(alerted) or "-"}


def hours(amount: timedelta) -> str:
    """`45m`, `2h05m`, `26h00m`: waits are read in hours by whoever is paged, also past a day."""
    minutes = max(int(amount / timedelta(minutes=1)), 0)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _mails(ticket: Ticket, row: EscalationStep, queue: QueueConfig, addresses: list[str], about: dict, *,
           session: Session, config: Config, secret: bytes, now: datetime) -> list[str]:
    customer, references = customer_thread(ticket, session=session)
    lines = []
    for address in addresses:
        # Only the queue's agents answer the customer by replying; the mail says so to the others.
        values = {**about, "agent": "yes" if queue.is_agent(address) else ""}
        mail = notify.Mail(f"esc:{row.id}:{address}", "escalation", ticket, queue, address, "", queue.language,
                           customer, references, limited=False, auto_submitted="auto-generated", escalation=values)
        queued = notify.queue_mail(mail, cause=None, envelope_from=None, session=session, config=config,
                                   secret=secret, now=now)
        lines.append(f"e-mail to {address} queued" if queued else f"e-mail to {address} not sent (loop protection)")
    return lines


def _sms(ticket: Ticket, row: EscalationStep, queue: QueueConfig, numbers: list[str], about: dict, *,
         session: Session, config: Config, now: datetime) -> list[str]:
    if not numbers:
        return []
    context = mail_context(
        ticket=notify.ticket_values(ticket, queue, queue.language, config=config, now=now), queue=queue,
        customer={"name": ticket.requester_name, "address": ticket.requester},
        message={"sender": "", "sender_name": "", "subject": ticket.subject, "text": ""},
        reopen_window_days=config.threading.reopen_window_days, escalation=about)
    text = sms_text.render(config, queue, queue.language, context)
    lines = []
    for number in numbers:
        sms_queue.enqueue(session=session, intent=f"esc:{row.id}:{number}", ticket_id=ticket.id, step_id=row.id,
                          recipient=number, text=text, now=now)
        lines.append(f"sms to {number} queued")
    return lines
