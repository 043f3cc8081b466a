"""The path of one accepted message: parse → route → thread → classify → store → effects, in one transaction.

`process` is the whole path, top to bottom. Each stage is a call into the module that owns it;
this file only decides what the stages' answers mean for the ticket:

- a customer or agent message joins the ticket threading found, or opens a new one; a reply to
  a resolved ticket reopens it, to a closed one within `reopen_window_days` too, and after that
  it opens a new ticket linked to the old one;
- automatic mail never opens or reopens a ticket: an auto-reply is recorded on the ticket it
  answers, a bounce on the ticket of the message that came back, and otherwise it is dropped
  (stored for the record and for `explain`, on no ticket). Mailing-list mail is the exception
  the design table names: it may open a ticket, but never reopens one;
- our own mail coming back (its Message-ID is one of ours) is dropped;
- a mail from one of the queue's agents is read by `agents.reading` first: a proven answer is
  stored as the agent's (or as a note) and carried out by `agents.answer` (commands, relay to
  the customer, notices); `#fwd`/`#phone` opens a ticket for the customer it names; an
  unproven one is stored as an ordinary message and its sender told why;
- a customer asking for the status by mail ("status", "estado"...) on their own ticket is
  answered by `agents.status_mail` and changes nothing else;
- only the ticket's people (requester, participants, agents) widen its participants with the
  Cc of their replies; anyone else who lands on a ticket by a copied Message-ID changes nothing;
- what the message causes is queued in the same transaction (`notify`): the acknowledgement of
  a customer's first mail, notices to the queue's agents, and a bounce's marks on addresses.

Anything a stage raises sends the raw message to quarantine with the stage and the error, and
the caller's batch goes on. Two processes storing the same Message-ID at once meet at the unique
constraint: the loser rolls back and reports a duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from mailbridge import ownership
from mailbridge.agents import answer as agent_answer
from mailbridge.agents import opening, reading, status_mail
from mailbridge.agents.reading import AgentMail
from mailbridge.config.models import Config, QueueConfig
from mailbridge.sla import clocks
from mailbridge.outgoing import notify
from mailbridge.sla import clockmath
from mailbridge.classify import classify_ticket
from mailbridge.errors import Discard, StageFailed
from mailbridge.history import is_import
from mailbridge.intake.durable import accept_raw, get_raw, mark_retried
from mailbridge.intake.durable import quarantine as park
from mailbridge.outcome import Outcome
from mailbridge.parse import parse_message
from mailbridge.parse.limits import PARSE_SECONDS
from mailbridge.parse.model import ParsedMessage
from mailbridge.parse.stage import ParseFailure, failure_text, parse_stage
from mailbridge.route import RouteDecision, queue_for_address, route
from mailbridge.store import repo
from mailbridge.store.db import Database
from mailbridge.store.models import Message, Quarantine, RawMessage, Ticket
from mailbridge.thread import ThreadDecision, effective_message_id, find_thread
from mailbridge.tokens import is_our_message_id, ticket_from_message_id

_SURROGATES = re.compile("[\ud800-\udfff]")
# Auto kinds that are delivery reports about a message we sent, placed by the returned message.
REPORT_KINDS = frozenset({"bounce", "delay", "complaint"})
# Mailing-list mail is automatic (never answered, never reopens) but may open a ticket.
LIST_KIND = "list"
# Kinds of an agent's proven mail: it answers its ticket and never reopens it.
AGENT_KINDS = frozenset({"agent", "note"})
# Statuses a customer reply changes, and to what.
REOPENED_FROM = frozenset({"resolved", "closed"})


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a message goes: a ticket (new or existing) or none, and the rule that said so."""

    ticket: Ticket | None
    created: bool
    rule: str
    detail: str
    # An agent's #fwd or #phone: the customer's mail it stands for (the ticket's first message).
    customer: ParsedMessage | None = None


class _DryRun(Exception):
    """Raised inside the transaction of a dry run so that everything it wrote is rolled back."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.kind)
        self.outcome = outcome


def ingest(
    raw: bytes, *, db: Database, config: Config, now: datetime, source: str, received_at: datetime,
    envelope_from: str | None = None, envelope_rcpts: tuple[str, ...] = (), secret: bytes | None = None,
) -> Outcome:
    """Accept the bytes durably, then process them; the same bytes twice are a duplicate.

    A `source` marked as history (`mailbridge.history.IMPORT_SOURCE`) is stored and threaded as
    of its receipt time and queues no mail.
    """
    row, created = accept_raw(
        raw, db=db, source=source, received_at=received_at,
        envelope_from=envelope_from, envelope_rcpts=envelope_rcpts,
    )
    if not created and row.state != "pending":
        # A row still "pending" was accepted but never finished (a crash): process it now.
        return _already_received(row, db=db)
    return process(row, db=db, config=config, now=now, secret=secret)


def dry_run(raw: bytes, *, db: Database, config: Config, now: datetime, source: str,
            received_at: datetime, secret: bytes | None = None) -> Outcome:
    """What `process` would do with these bytes, computed in a transaction that is rolled back."""
    row = RawMessage(sha256="", content=raw, size=len(raw), source=source, received_at=received_at)
    return process(row, db=db, config=config, now=now, dry_run=True, secret=secret)


def retry(entry: Quarantine, *, db: Database, config: Config, now: datetime) -> Outcome:
    """Run a quarantined message again; on success its quarantine entry is marked retried."""
    raw_row = get_raw(db, entry.raw_id)
    outcome = process(raw_row, db=db, config=config, now=now)
    if outcome.kind != "quarantined":
        mark_retried(db, entry.id, now=now)
    return outcome


def process(raw_row: RawMessage, *, db: Database, config: Config, now: datetime,
            dry_run: bool = False, secret: bytes | None = None,
            parsed: ParsedMessage | ParseFailure | None = None, mark_done: bool = True,
            savepoints: bool = True) -> Outcome:
    """Run one accepted raw message through every stage; never raises for a bad message (but see `savepoints`).

    `secret` defaults to the configured one; a dry run on a fresh install passes a throwaway
    one, since no token can exist before the secret does. `parsed` is the parse stage's result
    when it was run ahead, in another process (`parse_stage` of the same bytes). `mark_done`
    False: the caller marks the raw row done itself, later in the same transaction (the worker
    marks a whole group with one statement, `durable.mark_all_done`). `savepoints` False: `db`'s
    sessions are no savepoints (the worker's group transaction, `SessionBoundDatabase`), so what a
    failing stage wrote cannot be undone alone: `StageFailed` is raised instead of quarantining,
    and the caller redoes the message with savepoints. A parse failure has written nothing and is
    quarantined either way.
    """
    secret = secret if secret is not None else config.secret_bytes()
    # History (`ingest --import`) is stored as of its own receipt time and causes no mail,
    # whoever processes it: the import, the worker after a crash, a quarantine retry.
    history = is_import(raw_row.source)
    message = parsed if parsed is not None else parse_stage(raw_row.content, PARSE_SECONDS, parse_message)
    if isinstance(message, ParseFailure):
        return _quarantine(raw_row, "parse", message.error, db=db, now=now, dry_run=dry_run)
    stage = "parse"
    try:
        message_id = effective_message_id(message)
        stage = "route"
        decision = route(message, config.queues, raw_row.envelope_rcpts)
        with db.session() as session:
            stage = "thread"
            thread = find_thread(message, decision, session=session, secret=secret,
                                 envelope_rcpts=raw_row.envelope_rcpts, queues=config.queues)
            stage = "store"
            if thread.duplicate_of is not None:
                outcome = _duplicate(thread, message_id, session=session)
            else:
                outcome = _store(raw_row, message, message_id, decision, thread, session=session, config=config,
                                 secret=secret, now=raw_row.received_at if history else now,
                                 effects=not history)
            if mark_done:
                repo.mark_raw(raw_row.id, "done", session=session)
            if dry_run:
                raise _DryRun(outcome)
        return outcome
    except _DryRun as rolled_back:
        return rolled_back.outcome
    except Exception as error:  # noqa: BLE001 - any failure of any stage is quarantined, by design
        if not savepoints:
            raise StageFailed(stage) from error
        if repo.is_duplicate_message_error(error):
            return _lost_race(raw_row, error, db=db, dry_run=dry_run)
        return _quarantine(raw_row, stage, error, db=db, now=now, dry_run=dry_run)


def _store(
    raw_row: RawMessage, message: ParsedMessage, message_id: str, decision: RouteDecision,
    thread: ThreadDecision, *, session: Session, config: Config, secret: bytes, now: datetime,
    effects: bool = True,
) -> Outcome:
    """Classify the message, place it (choose or open the ticket) and write it with its parts."""
    found = session.get(Ticket, thread.ticket_id) if thread.ticket_id is not None else None
    if _from_noreply(message):
        # DESIGN.md: mail from a no-reply address is a request like any other (a system telling
        # of a failure), with no automatic answer: loop protection refuses no-reply recipients.
        message = replace(message, auto=None)
    kind, agent_mail = _kind(message, found, decision, thread.rule, session=session, config=config)
    try:
        placement = _place(message, message_id, decision, thread, kind, agent_mail, session=session,
                           config=config, secret=secret, now=now, raw_row=raw_row)
    except Discard as discarded:
        placement = Placement(None, False, discarded.rule, discarded.detail)
    if placement.ticket is not None and not placement.created:
        # Before the next flush, so the status log stamps a reopen with this time (a new ticket
        # was made at this time: setting it again only made the session flush it for nothing).
        placement.ticket.updated_at = now
    # The message row is stored, not kept in the session: nothing changes it after this.
    row = repo.insert_row(_message_row(raw_row, message, message_id, decision, placement, kind), session=session)
    repo.add_refs(row.id, in_reply_to=message.in_reply_to, references=message.references, session=session)
    repo.store_attachments(row.id, message.attachments, session=session)
    if placement.ticket is not None and not placement.created:
        session.add(placement.ticket)
        # Before the effects: a notice says when to expect an answer (a new ticket's clocks are
        # set before it is stored, see `_open_ticket`).
        clocks.refresh(placement.ticket, session=session, config=config, now=now)
    if effects:
        _effects(message, row, placement, kind, agent_mail, envelope_from=raw_row.envelope_from, session=session,
                 config=config, secret=secret, now=now)
    elif placement.created and placement.ticket.confirm_due_at is not None:
        # Imported history: a call taken long ago is not reminded of now.
        placement.ticket.confirm_due_at = None
    return _outcome(placement, decision, message_id)


def _kind(message: ParsedMessage, found: Ticket | None, decision: RouteDecision, thread_rule: str, *,
          session: Session, config: Config) -> tuple[str, AgentMail | None]:
    """The kind the message is stored as, and what it asks of its ticket when an agent wrote it."""
    queue = _queue_of(found, decision, config)
    agent_mail = reading.read(message, queue, thread_rule, has_ticket=found is not None,
                              authserv_id=config.listener.trusted_authserv_id)
    if agent_mail is not None:
        return agent_mail.kind, agent_mail
    kind = classify(message)
    if kind == "customer" and found is not None and status_mail.asks_status(message) \
            and status_mail.is_their_ticket(found, _sender(message), session=session):
        # Only the ticket's own people learn its status; it is not a reply for the clocks.
        return "system", None
    return kind, None


def _effects(message: ParsedMessage, row: Message, placement: Placement, kind: str, agent_mail: AgentMail | None, *,
             envelope_from: str | None, session: Session, config: Config, secret: bytes, now: datetime) -> None:
    """What the stored message causes: an agent's commands and relay, a status answer, or acks and notices."""
    ticket = placement.ticket
    if kind == "system" and ticket is not None:
        status_mail.answer(message, row, ticket, envelope_from=envelope_from, session=session, config=config,
                           secret=secret, now=now)
        return
    if agent_mail is None or agent_mail.action in (reading.REFUSED, reading.OPEN):
        notify.queue_effects(placement.customer or message, row, ticket, placement.created,
                             envelope_from=envelope_from, session=session, config=config, secret=secret, now=now)
    if agent_mail is not None and agent_mail.action != reading.OPEN and ticket is not None:
        agent_answer.act(agent_mail, message, row, ticket, session=session, config=config, secret=secret, now=now)


def _classify_new(message: ParsedMessage, queue_name: str, raw_row: RawMessage, config: Config) -> dict:
    """A new ticket's priority, type and plan from the rules, and when it counts as received."""
    queue = config.queue(queue_name)
    found = classify_ticket(message, queue=queue.name, default_priority=queue.default_priority,
                            default_type=queue.default_type, rules=config.classify.rules,
                            customers=config.customers, envelope_rcpts=raw_row.envelope_rcpts)
    sender = message.from_.address if message.from_ else ""
    return {"priority": found.priority, "type": found.type, "plan": found.plan,
            "deemed_received_at": clocks.deemed_received(queue, raw_row.received_at, config=config),
            # A customer's personal agent (a benefit of their plan) owns their tickets from the start.
            "owner": ownership.personal_agent(sender, config.customers, queue)}


def classify(message: ParsedMessage) -> str:
    """automatic if parsing saw an automatic signal, else customer.

    An agent's mail is read by `agents.reading` before this: with the thread proof (and, where
    configured, DKIM/DMARC) it is the agent's; without, it is an ordinary (customer) message.
    """
    return "automatic" if message.auto is not None else "customer"


def _sender(message: ParsedMessage) -> str:
    return message.from_.address.strip().lower() if message.from_ else ""


def _place(
    message: ParsedMessage, message_id: str, decision: RouteDecision, thread: ThreadDecision, kind: str,
    agent_mail: AgentMail | None, *, session: Session, config: Config, secret: bytes, now: datetime,
    raw_row: RawMessage,
) -> Placement:
    """Choose the ticket for a message, or raise `Discard` when it belongs on none."""
    if is_our_message_id(message_id, secret):
        raise Discard("our-own-mail", f"Message-ID <{message_id}> is one we made: our mail came back")
    if agent_mail is not None and agent_mail.action == reading.OPEN:
        return _open_for_customer(message, agent_mail, decision.queue, session=session, config=config, now=now,
                                  raw_row=raw_row)
    auto = message.auto.kind if message.auto else None
    if auto in REPORT_KINDS:
        return _place_report(message, session=session, secret=secret)
    ticket = session.get(Ticket, thread.ticket_id) if thread.ticket_id is not None else None
    if auto is not None and auto != LIST_KIND:
        if ticket is None:
            raise Discard("auto-dropped", f"{auto} ({message.auto.reason}) answering no ticket")
        return Placement(ticket, False, thread.rule, thread.detail)
    if kind in AGENT_KINDS:
        # An agent's mail answers the ticket (a signed proof found it): it never reopens it,
        # and an agent's "thanks, closing this" must not start a new ticket either. Whom the
        # agent copies in joins the ticket, as with the customer's own Cc.
        _widen(ticket, message, config, session=session)
        return Placement(ticket, False, thread.rule, thread.detail)
    if kind == "system":
        return Placement(ticket, False, thread.rule, f"{thread.detail}; asks for the ticket's status")
    if ticket is None:
        opened = _open_ticket(message, decision.queue, kind, session=session, config=config, now=now,
                              raw_row=raw_row)
        return Placement(opened, True, thread.rule, thread.detail)
    theirs = _is_ticket_person(ticket, message, config, session=session)
    if auto is None and ticket.status in REOPENED_FROM:
        return _reopen_or_follow(ticket, message, decision, thread, kind, session=session, config=config,
                                 now=now, raw_row=raw_row)
    if theirs and thread.rule == "referenced-by":
        _adopt_original(ticket, message, decision.queue, config.queues, session=session)
    elif theirs and auto is None:
        _widen(ticket, message, config, session=session)
    if theirs and auto is None and ticket.confirm_due_at is not None:
        # The customer answered the ticket taken by phone: that is its written confirmation.
        ticket.confirm_due_at = None
    if auto is None and ticket.status == "pending":
        # Pending means waiting on the customer; any reply from their side ends the wait.
        ticket.status = "open"
    detail = thread.detail if theirs else f"{thread.detail}; {_sender(message) or 'the sender'} is not one of " \
                                          "the ticket's people: subject and participants left as they are"
    return Placement(ticket, False, thread.rule, detail)


def _from_noreply(message: ParsedMessage) -> bool:
    """Parsing called it automatic only because its sender is a no-reply address."""
    return message.auto is not None and message.auto.reason.startswith("no-reply sender")


def _is_ticket_person(ticket: Ticket, message: ParsedMessage, config: Config, *, session: Session) -> bool:
    """The requester, a participant, or an agent of the ticket's queue (DESIGN.md, threading rule 4)."""
    sender = _sender(message)
    if not sender:
        return False
    queue = config.queue(ticket.queue)
    return (sender == ticket.requester or (queue is not None and queue.is_agent(sender))
            or repo.is_participant(ticket.id, sender, session=session))


def _widen(ticket: Ticket, message: ParsedMessage, config: Config, *, session: Session) -> None:
    """The people a ticket's own person copies in become its participants (their replies then thread)."""
    queue = config.queue(ticket.queue)
    if queue is None:
        return
    people = [person for person in _first_participants(message, queue, config.queues) if person[0] != ticket.requester]
    repo.add_participants(ticket.id, people, session=session)


def _open_for_customer(message: ParsedMessage, agent_mail: AgentMail, queue: QueueConfig, *, session: Session,
                       config: Config, now: datetime, raw_row: RawMessage) -> Placement:
    """An agent's #fwd or #phone: a new ticket for the customer, as if their mail had come in."""
    command = agent_mail.opening
    customer = opening.customer_message(message, agent_mail.commands)
    extra = {"opened_by": agent_mail.sender}
    if command.name == "phone":
        extra["confirm_due_at"] = opening.confirm_due(queue, raw_row.received_at, config=config)
    ticket = _open_ticket(customer, queue, "customer", session=session, config=config, now=now, raw_row=raw_row,
                          extra_columns=extra)
    detail = f"{command.written} by {agent_mail.sender}: opened for {ticket.requester}"
    return Placement(ticket, True, f"agent-{command.name}", detail, customer=customer)


def _adopt_original(ticket: Ticket, message: ParsedMessage, queue: QueueConfig,
                    queues: Sequence[QueueConfig], *, session: Session) -> None:
    """An original that arrived after its reply: its subject and its people are the ticket's too.

    The reply opened the ticket and gave it a `Re:` subject and only its own sender; the
    original's Cc'd people must be participants so that their later replies thread.
    """
    ticket.subject = _clean(message.subject) or ticket.subject
    sender = message.from_
    people = []
    if sender and sender.address:
        role = "requester" if sender.address.lower() == ticket.requester else "cc"
        people.append((sender.address[:320], _clean(sender.name)[:500], role))
    repo.add_participants(ticket.id, [*people, *_first_participants(message, queue, queues)], session=session)


def _place_report(message: ParsedMessage, *, session: Session, secret: bytes) -> Placement:
    """A bounce or delivery report goes on the ticket of the message it returns, else nowhere."""
    original = message.bounce.original_message_id if message.bounce else None
    if not original:
        raise Discard("report-dropped", f"{message.auto.kind} names no returned Message-ID")
    ticket_id = ticket_from_message_id(original, secret)
    if ticket_id is None:
        stored = repo.message_by_message_id(original, session=session)
        ticket_id = stored.ticket_id if stored else None
    ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    if ticket is None:
        raise Discard("report-dropped", f"returned message <{original}> is on no ticket")
    return Placement(ticket, False, "report-of", f"returned message <{original}>")


def _reopen_or_follow(
    ticket: Ticket, message: ParsedMessage, decision: RouteDecision, thread: ThreadDecision, kind: str, *,
    session: Session, config: Config, now: datetime, raw_row: RawMessage,
) -> Placement:
    """A customer writing to a resolved ticket reopens it; to a long-closed one, starts anew."""
    window = timedelta(days=config.threading.reopen_window_days)
    if ticket.status == "closed" and (ticket.closed_at is None or now - ticket.closed_at > window):
        opened = _open_ticket(message, decision.queue, kind, session=session, config=config, now=now,
                              raw_row=raw_row, linked_to=ticket)
        detail = f"{thread.detail}; {ticket.code} closed more than {window.days} days ago"
        return Placement(opened, True, "closed-ticket-new", detail)
    previous = ticket.status
    ticket.status = "open"
    ticket.reopened_count += 1
    ticket.resolved_at = None
    ticket.closed_at = None
    return Placement(ticket, False, thread.rule, f"{thread.detail}; reopened (was {previous})")


def _open_ticket(
    message: ParsedMessage, queue: QueueConfig, kind: str, *, session: Session, config: Config, now: datetime,
    raw_row: RawMessage, linked_to: Ticket | None = None, extra_columns: dict | None = None,
) -> Ticket:
    """A new ticket in the routed queue, classified, with the first message's people as its participants."""
    sender = message.from_ or None
    ticket = repo.new_ticket(
        session=session,
        queue=queue.name,
        code_prefix=queue.code_prefix,
        requester=_clean(sender.address if sender else "")[:320],
        requester_name=_clean(sender.name if sender else "")[:500],
        subject=_clean(message.subject),
        received_at=raw_row.received_at,
        now=now,
        language=message.language or queue.language,
        linked_ticket_id=linked_to.id if linked_to else None,
        # Known before it is stored, so the new row is written once, not written and then updated.
        columns={**_classify_new(message, queue.name, raw_row, config), **(extra_columns or {})},
    )
    # Its opening message (of `kind`) is its one clock event, so its due times are known now
    # too and go into its INSERT rather than into an UPDATE after it.
    clocks.refresh(ticket, session=session, config=config, now=now, opening=clockmath.Event(raw_row.received_at, kind))
    repo.store_ticket(ticket, session=session, participants=_first_participants(message, queue, config.queues))
    return ticket


def _first_participants(message: ParsedMessage, queue: QueueConfig, queues: Sequence[QueueConfig],
                        ) -> list[tuple[str, str, str]]:
    """The people on a first message besides the requester: Cc, and To addresses that are not ours.

    No queue's own address (of any product, `+tag` or not) is a person; an agent of the queue
    copied in is recorded as an agent.
    """
    people = []
    for address in (*message.to, *message.cc):
        plain = address.address.strip().lower()
        if "@" not in plain or queue_for_address(plain, queues) is not None:
            continue
        role = "agent" if queue.is_agent(plain) else "cc"
        people.append((plain[:320], _clean(address.name)[:500], role))
    return people


def _queue_of(ticket: Ticket | None, decision: RouteDecision, config: Config) -> QueueConfig:
    """The queue whose agents count: the ticket's own (a reply may arrive via another address)."""
    if ticket is not None:
        return config.queue(ticket.queue) or decision.queue
    return decision.queue


def _message_row(
    raw_row: RawMessage, message: ParsedMessage, message_id: str, decision: RouteDecision,
    placement: Placement, kind: str,
) -> Message:
    sender = message.from_
    return repo.new_row(
        Message,
        raw_id=raw_row.id,
        ticket_id=placement.ticket.id if placement.ticket else None,
        message_id=message_id,
        direction="in",
        kind=kind,
        sender=_clean(sender.address.lower() if sender else "")[:320],
        sender_name=_clean(sender.name if sender else "")[:500],
        recipients=_recipients(message),
        subject=_clean(message.subject),
        text=_clean(message.text),
        # An agent's #fwd or #phone: what the agents' notices show is the customer's mail.
        reply_text=_clean(placement.customer.text if placement.customer else message.reply_text),
        html=_clean(message.html) if message.html is not None else None,
        date_header=_aware(message.date),
        received_at=raw_row.received_at,
        auto_kind=message.auto.kind if message.auto else None,
        route_rule=decision.rule,
        route_detail=_clean(_route_detail(decision)),
        thread_rule=placement.rule,
        thread_detail=_clean(placement.detail),
        defects=[_clean(defect) for defect in message.defects],
    )


def _recipients(message: ParsedMessage) -> list[dict]:
    return [
        {"field": field, "name": _clean(a.name), "address": _clean(a.address)}
        for field, addresses in (("to", message.to), ("cc", message.cc))
        for a in addresses
    ]


def _route_detail(decision: RouteDecision) -> str:
    if not decision.also:
        return decision.detail
    return f"{decision.detail}; also addressed, noted: {', '.join(decision.also)}"


def _outcome(placement: Placement, decision: RouteDecision, message_id: str) -> Outcome:
    if placement.ticket is None:
        kind = "dropped"
    else:
        kind = "created" if placement.created else "threaded"
    ticket = placement.ticket
    return Outcome(
        kind=kind,
        ticket_code=ticket.code if ticket else None,
        rule=placement.rule,
        detail=placement.detail,
        queue=ticket.queue if ticket else decision.queue.name,
        message_id=message_id,
        route_rule=decision.rule,
    )


def _duplicate(thread: ThreadDecision, message_id: str, *, session: Session) -> Outcome:
    stored = session.get(Message, thread.duplicate_of)
    ticket = session.get(Ticket, stored.ticket_id) if stored and stored.ticket_id else None
    return Outcome(
        kind="duplicate",
        ticket_code=ticket.code if ticket else None,
        rule=thread.rule,
        detail=thread.detail,
        queue=ticket.queue if ticket else None,
        message_id=message_id,
    )


def _already_received(row: RawMessage, *, db: Database) -> Outcome:
    """The same bytes were accepted before: report where they went instead of redoing the work."""
    with db.session() as session:
        stored = session.exec(select(Message).where(Message.raw_id == row.id)).first()
        ticket = session.get(Ticket, stored.ticket_id) if stored and stored.ticket_id else None
        return Outcome(
            kind="duplicate",
            ticket_code=ticket.code if ticket else None,
            rule="same-bytes",
            detail=f"identical bytes already received as raw message {row.id} ({row.state})",
            queue=ticket.queue if ticket else None,
            message_id=stored.message_id if stored else None,
        )


def _lost_race(raw_row: RawMessage, error: Exception, *, db: Database, dry_run: bool) -> Outcome:
    """Another process stored the same Message-ID between our lookup and our insert."""
    if not dry_run:
        with db.session() as session:
            repo.mark_raw(raw_row.id, "done", session=session)
    return Outcome(kind="duplicate", rule="duplicate-message-id",
                   detail="stored by a concurrent delivery (unique Message-ID constraint)")


def _quarantine(raw_row: RawMessage, stage: str, error: Exception | str, *, db: Database, now: datetime,
                dry_run: bool) -> Outcome:
    text = error if isinstance(error, str) else failure_text(error)
    if not dry_run:
        park(db, raw_row.id, stage, text, now=now)
    return Outcome(kind="quarantined", rule=f"failed-{stage}", detail=text, stage=stage, error=text)


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL characters, and no database takes the lone surrogates a
    # raw 8-bit header value leaves in text quoted from it (an automatic-mail reason, a detail):
    # a stray one must not cost the message.
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return text


def _aware(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
