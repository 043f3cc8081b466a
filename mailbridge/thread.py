"""Threading: which existing ticket a message belongs to, or none, and which rule decided it.

The rules run in the order of DESIGN.md, first match wins (`RULES` below is that order):

1. duplicate          the same Message-ID is already stored: one stored copy.
2. reply-token        a signed ticket token in a recipient's sub-address (`support+<token>@…`).
3. our-message-id     one of our signed Message-IDs in In-Reply-To/References.
4. stored-reference   any stored Message-ID in In-Reply-To/References.
5. referenced-by      a stored message names this one's Message-ID: the reply came first.
6. shared-reference   a stored message names the same parent: a sibling reply whose parent
                      we never stored (both answer one mail that never reached us first),
                      accepted only from the ticket's people, as in rule 7.
7. subject-code       a ticket code in the subject, accepted only from the ticket's requester,
                      a participant, or an agent of the ticket's queue.
8. new                none of the above.

The Message-ID lookups of rules 1, 4, 5 and 6 are one indexed query, made once; every other
lookup is one indexed query too. Reopening closed tickets is the pipeline's business: this
module only says which ticket the message belongs to.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from sqlmodel import Session

from mailbridge.parse.model import ParsedMessage
from mailbridge.route import RouteDecision, plus_tag
from mailbridge.store import repo_thread
from mailbridge.store.models import Ticket
from mailbridge.store.repo import is_participant, ticket_by_code, ticket_by_id
from mailbridge.tokens import read_ticket_token, ticket_from_message_id

DERIVED_DOMAIN = "mailbridge.invalid"

# Reply and forward prefixes in the languages our customers write (and their mail clients
# use): English, German (AW, WG), Polish (Odp, PD), Spanish (RV, RE), French (TR), Portuguese
# (RES, ENC), Nordic (SV, VS), Dutch (Antw), Italian (Rif), with optional counters ("Re[2]:").
_PREFIX = re.compile(
    r"^\s*(?:re|aw|odp|rv|fw|fwd|pd|tr|wg|res|enc|sv|vs|antw|rif)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
# A ticket code with any queue's prefix, bracketed or bare: `[DYN-000123]`, `DYN-000123`.
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2,6})-(\d{6,})(?![0-9])")


@dataclass(frozen=True)
class ThreadDecision:
    """The ticket a message joins (None: a new one), the rule that decided and why."""

    ticket_id: int | None
    rule: str
    detail: str
    duplicate_of: int | None = None


@dataclass
class _Inputs:
    message: ParsedMessage
    route: RouteDecision
    session: Session
    secret: bytes
    envelope_rcpts: Sequence[str]
    queues: Sequence
    message_id: str
    # What the database knows of this Message-ID and of its references (rules 1, 4, 5 and 6).
    known: repo_thread.Known
    # Things looked at and rejected, so that "why did this open a new ticket?" has an answer.
    notes: list[str] = field(default_factory=list)


def find_thread(
    message: ParsedMessage,
    route: RouteDecision,
    *,
    session: Session,
    secret: bytes,
    envelope_rcpts: Sequence[str] = (),
    queues: Sequence = (),
) -> ThreadDecision:
    """Apply the threading rules in order; `queues` (all configured) finds agents of other queues."""
    message_id = effective_message_id(message)
    known = repo_thread.known([message_id, *_references(message)], session=session)
    inputs = _Inputs(message, route, session, secret, envelope_rcpts, queues, message_id, known)
    for rule in RULES:
        decision = rule(inputs)
        if decision is not None:
            return replace(decision, detail=_with_notes(decision.detail, inputs.notes))
    return ThreadDecision(None, "new", _with_notes("no rule matched: a new ticket", inputs.notes))


def effective_message_id(message: ParsedMessage) -> str:
    """The Message-ID without brackets, or a stable one derived from the content when it has none.

    The derived id hashes what a re-delivery keeps (sender, recipients, date, subject, text,
    attachments) and not what it changes (Received and other trace headers, line endings), so
    the same mail delivered twice is still recognised as a duplicate.
    """
    if message.message_id and message.message_id.strip("<> "):
        return message.message_id.strip("<> ")
    return f"derived.{_content_digest(message)}@{DERIVED_DOMAIN}"


def _content_digest(message: ParsedMessage) -> str:
    parts = [
        message.from_.address.lower() if message.from_ else "",
        ",".join(a.address.lower() for a in message.to + message.cc),
        message.date.isoformat() if message.date else "",
        message.subject.strip(),
        _normalise_text(message.text),
        _normalise_text(message.html or ""),
        ",".join(a.sha256 for a in message.attachments),
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _normalise_text(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def strip_reply_prefixes(subject: str) -> str:
    """`RE: AW: Odp: RV: Hello` → `Hello`: the subject as its first message had it."""
    previous = None
    while previous != subject:
        previous, subject = subject, _PREFIX.sub("", subject, count=1)
    return subject.strip()


def subject_codes(subject: str) -> list[str]:
    """Ticket codes named in a subject, upper-cased, in order, each once."""
    codes: list[str] = []
    for prefix, number in _CODE.findall(subject):
        code = f"{prefix.upper()}-{number}"
        if code not in codes:
            codes.append(code)
    return codes


def _references(message: ParsedMessage) -> list[str]:
    """In-Reply-To first, then References from the nearest ancestor back, brackets stripped, once each."""
    ordered: list[str] = []
    for ref in (*message.in_reply_to, *reversed(message.references)):
        ref = ref.strip("<> ")
        if ref and ref not in ordered:
            ordered.append(ref)
    return ordered


def _duplicate(inputs: _Inputs) -> ThreadDecision | None:
    stored = inputs.known.stored
    if inputs.message_id not in stored:
        return None
    row = stored[inputs.message_id]
    detail = f"Message-ID <{inputs.message_id}> is already stored (message {row.row_id})"
    return ThreadDecision(row.ticket_id, "duplicate", detail, duplicate_of=row.row_id)


def _reply_token(inputs: _Inputs) -> ThreadDecision | None:
    message = inputs.message
    candidates = [a.address for a in (*message.to, *message.cc)] + list(inputs.envelope_rcpts)
    for address in candidates:
        tag = plus_tag(address)
        if not tag:
            continue
        ticket_id = read_ticket_token(tag.lower(), inputs.secret)
        ticket = _existing_ticket(inputs, ticket_id)
        if ticket is not None:
            return ThreadDecision(ticket.id, "reply-token", f"signed token in {address} names {ticket.code}")
        inputs.notes.append(f"sub-address of {address} is not a valid token for a stored ticket")
    return None


def _our_message_id(inputs: _Inputs) -> ThreadDecision | None:
    for ref in _references(inputs.message):
        ticket = _existing_ticket(inputs, ticket_from_message_id(ref, inputs.secret))
        if ticket is not None:
            return ThreadDecision(ticket.id, "our-message-id", f"refers to our <{ref}> of {ticket.code}")
    return None


def _stored_reference(inputs: _Inputs) -> ThreadDecision | None:
    stored = inputs.known.stored
    for ref in _references(inputs.message):
        row = stored.get(ref)
        if row is not None and row.ticket_id is not None:
            code = _code(inputs, row.ticket_id)
            return ThreadDecision(row.ticket_id, "stored-reference", f"refers to stored <{ref}> of {code}")
    return None


def _referenced_by(inputs: _Inputs) -> ThreadDecision | None:
    found = inputs.known.referencing
    if inputs.message_id not in found:
        return None
    ticket_id, child = found[inputs.message_id]
    detail = f"stored <{child}> of {_code(inputs, ticket_id)} replies to this message (the reply came first)"
    return ThreadDecision(ticket_id, "referenced-by", detail)


def _shared_reference(inputs: _Inputs) -> ThreadDecision | None:
    # Two people answering the same outside mail (an announcement sent to many) share a parent
    # without sharing a request, so a sibling joins only when its sender belongs to the ticket.
    refs = _references(inputs.message)
    found = inputs.known.referencing
    sender = _sender(inputs)
    for ref in (ref for ref in refs if ref in found):
        ticket_id, sibling = found[ref]
        ticket = ticket_by_id(ticket_id, session=inputs.session)
        role = _sender_role(inputs, ticket, sender)
        if role is not None:
            detail = f"stored <{sibling}> of {ticket.code} also refers to <{ref}>, sender is the {role}"
            return ThreadDecision(ticket_id, "shared-reference", detail)
        inputs.notes.append(f"ignored shared reference <{ref}> with {ticket.code}: {_not_theirs(inputs, ticket)}")
    return None


def _subject_code(inputs: _Inputs) -> ThreadDecision | None:
    sender = _sender(inputs)
    for code in subject_codes(inputs.message.subject):
        ticket = ticket_by_code(code, session=inputs.session)
        if ticket is None:
            continue
        role = _sender_role(inputs, ticket, sender)
        if role is not None:
            return ThreadDecision(ticket.id, "subject-code", f"{code} in the subject, sender is the {role}")
        inputs.notes.append(f"ignored {code} in the subject: {_not_theirs(inputs, ticket)}")
    return None


RULES: tuple[Callable[[_Inputs], ThreadDecision | None], ...] = (
    _duplicate,
    _reply_token,
    _our_message_id,
    _stored_reference,
    _referenced_by,
    _shared_reference,
    _subject_code,
)


def _sender(inputs: _Inputs) -> str:
    return inputs.message.from_.address.lower() if inputs.message.from_ else ""


def _not_theirs(inputs: _Inputs, ticket: Ticket) -> str:
    who = _sender(inputs) or "the sender"
    return f"{who} is not its requester, a participant or an agent of queue {ticket.queue}"


def _sender_role(inputs: _Inputs, ticket: Ticket, sender: str) -> str | None:
    if not sender:
        return None
    if sender == ticket.requester:
        return "requester"
    if sender in _agents_of(inputs, ticket.queue):
        return "agent of the queue"
    if is_participant(ticket.id, sender, session=inputs.session):
        return "participant"
    return None


def _agents_of(inputs: _Inputs, queue_name: str) -> frozenset[str]:
    queues = list(inputs.queues) or [inputs.route.queue]
    for queue in queues:
        if queue.name == queue_name:
            return queue.agent_set
    return frozenset()


def _existing_ticket(inputs: _Inputs, ticket_id: int | None) -> Ticket | None:
    return ticket_by_id(ticket_id, session=inputs.session) if ticket_id is not None else None


def _code(inputs: _Inputs, ticket_id: int) -> str:
    ticket = ticket_by_id(ticket_id, session=inputs.session)
    return ticket.code if ticket else f"ticket {ticket_id}"


def _with_notes(text: str, notes: list[str]) -> str:
    return "; ".join([text, *notes])
