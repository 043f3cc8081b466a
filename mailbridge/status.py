"""Status changes made by a person (resolve, close, reopen, pending, open), queuing the customer's mail with them.

`change_status` is the CLI's (its own transaction, by code); `apply` is the same change inside a
caller's transaction (an agent's `#resolve` by mail, the automatic closing of resolved tickets).

The change, its logged event (the `before_flush` hook of `store.repo_clock`), the ticket's
recomputed due times and the customer's mail share one transaction: a crash cannot leave a
resolved ticket with a running due time, nor a reopened one without its new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailbridge.sla import clocks
from mailbridge.outgoing import notify
from mailbridge.config.models import Config
from mailbridge.errors import MailbridgeError, NotFound
from mailbridge.store import repo
from mailbridge.store.db import Database
from mailbridge.store.models import Message, Ticket

# action → (new status, statuses it may start from, template kind of the customer's mail)
ACTIONS = {
    "resolve": ("resolved", frozenset({"new", "open", "pending"}), "resolved"),
    "close": ("closed", frozenset({"new", "open", "pending", "resolved"}), "closed"),
    "reopen": ("open", frozenset({"resolved", "closed"}), "reopened"),
    # Waiting on the customer and back: no mail to the customer (an answer usually comes with them).
    "pending": ("pending", frozenset({"new", "open"}), None),
    "open": ("open", frozenset({"new", "pending"}), None),
}


class StatusError(MailbridgeError):
    """The ticket cannot make that change from its current status (one line for the user)."""


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What a status command did: the ticket, its status before and after, and the mail queued."""

    code: str
    before: str
    after: str
    mail_queued: bool


def change_status(code: str, action: str, *, db: Database, config: Config, secret: bytes,
                  now: datetime) -> StatusChange:
    """Apply `action` to the ticket `code`, refresh its clocks and queue the matching mail, in one transaction."""
    after, allowed, kind = ACTIONS[action]
    with db.session() as session:
        ticket = repo.ticket_by_code(code.strip().strip("[]"), session=session)
        if ticket is None:
            raise NotFound(f"no ticket {code}")
        before = ticket.status
        if before not in allowed:
            raise StatusError(f"{ticket.code} is {before}: cannot {action} it")
        queued = apply(ticket, action, session=session, config=config, secret=secret, now=now)
        return StatusChange(ticket.code, before, after, queued)


def allowed(ticket: Ticket, action: str) -> bool:
    """Whether `action` can start from the ticket's current status."""
    return ticket.status in ACTIONS[action][1]


def apply(ticket: Ticket, action: str, *, session: Session, config: Config, secret: bytes, now: datetime) -> bool:
    """Make the change in the caller's transaction, refresh the clocks, queue the customer's mail (True if queued)."""
    after, _, kind = ACTIONS[action]
    _apply(ticket, after, now, reopen=action == "reopen")
    session.add(ticket)
    # The flush logs the event the clocks are computed from; the mail then states the new due time.
    session.flush()
    clocks.refresh(ticket, session=session, config=config, now=now)
    if kind is None:
        return False
    return _queue_customer_mail(ticket, kind, session=session, config=config, secret=secret, now=now)


def _apply(ticket: Ticket, status: str, now: datetime, *, reopen: bool) -> None:
    if reopen:
        ticket.reopened_count += 1
        ticket.resolved_at = None
        ticket.closed_at = None
    elif status == "resolved":
        ticket.resolved_at = now
    elif status == "closed":
        ticket.closed_at = now
    ticket.status = status
    ticket.updated_at = now


def _queue_customer_mail(ticket: Ticket, kind: str, *, session: Session, config: Config, secret: bytes,
                         now: datetime) -> bool:
    queue = config.queue(ticket.queue)
    if queue is None:
        return False
    customer_mail = customers_mail(ticket, session=session)
    latest = customer_mail[-1] if customer_mail else None
    mail = notify.Mail(
        # reopened_count tells a second resolve (after a reopen) from the first one.
        f"{kind}:{ticket.id}:{ticket.reopened_count}", kind, ticket, queue, ticket.requester,
        ticket.requester_name, queue.answer_language(ticket.language), latest,
        thread_references(customer_mail),
        automatic=False, limited=False, auto_submitted="auto-generated",
    )
    return notify.queue_mail(mail, cause=None, envelope_from=None, session=session, config=config,
                             secret=secret, now=now)


def customers_mail(ticket: Ticket, *, session: Session) -> list[Message]:
    """The customer mail of a ticket from its own people (requester, participants), oldest first.

    A stranger who copied a stored Message-ID lands on the ticket, but our mail never threads
    under theirs: they must not learn our Message-IDs or be answered.
    """
    people = {p.address for p in repo.participants_of(ticket.id, session=session) if p.role != "agent"}
    people.add(ticket.requester)
    return [m for m in repo.messages_of(ticket.id, session=session) if m.kind == "customer" and m.sender in people]


def thread_references(messages: list[Message]) -> list[str]:
    """The first and the latest customer mail: enough for any client to place ours in the thread."""
    ids = [m.message_id for m in (messages[:1] + messages[-1:])]
    return list(dict.fromkeys(ids))


def customer_thread(ticket: Ticket, *, session: Session) -> tuple[Message | None, list[str]]:
    """The latest customer mail (what the agents answer) and the References that place ours by it."""
    customer = [m for m in repo.messages_of(ticket.id, session=session) if m.kind == "customer"]
    if not customer:
        return None, []
    return customer[-1], thread_references(customer)
