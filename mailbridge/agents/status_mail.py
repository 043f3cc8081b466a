"""A customer asks for their ticket's status by mail: "status", "estado", "status zgłoszenia" as the subject or the only line.

Only the ticket's requester and participants get an answer (the `status_reply` mail: status,
owner, next target time, legal deadline); the message is stored as a `system` message, so it
opens no ticket, reopens nothing, notifies no agent and is not a customer reply for the clocks.
Anyone else's "status" is an ordinary message, and nothing about the ticket is sent to them.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from mailbridge.agents.commands import fold
from mailbridge.config.models import Config
from mailbridge.outgoing import notify
from mailbridge.parse.model import ParsedMessage
from mailbridge.status import customers_mail, thread_references
from mailbridge.store import repo
from mailbridge.store.models import Message, Ticket
from mailbridge.thread import strip_reply_prefixes

# Folded (lowercase, no accents, ł → l); a trailing "?" or "." is ignored.
PHRASES = frozenset({
    "status", "ticket status", "request status", "status of my request", "what is the status",
    "status zgloszenia", "stan zgloszenia", "jaki jest status", "status sprawy",
    "estado", "estado de la solicitud", "estado del ticket", "estado de mi solicitud", "cual es el estado",
})
_CODE = re.compile(r"\[?[A-Za-z]{2,6}-\d{6,}\]?")


def asks_status(message: ParsedMessage) -> bool:
    """The subject (without Re: and the ticket code) or the only line of the reply is a status phrase."""
    subject = _CODE.sub(" ", strip_reply_prefixes(message.subject))
    lines = [line for line in message.reply_text.splitlines() if line.strip()]
    return _phrase(subject) or (len(lines) == 1 and _phrase(lines[0]))


def is_their_ticket(ticket: Ticket, sender: str, *, session: Session) -> bool:
    """The requester or a (non-agent) participant of the ticket."""
    sender = sender.strip().lower()
    if not sender:
        return False
    if sender == ticket.requester:
        return True
    return any(p.address == sender and p.role != "agent" for p in repo.participants_of(ticket.id, session=session))


def answer(message: ParsedMessage, row: Message, ticket: Ticket, *, envelope_from: str | None, session: Session,
           config: Config, secret: bytes, now: datetime) -> bool:
    """Queue the status mail to the sender; True when queued (loop protection may refuse it)."""
    queue = config.queue(ticket.queue)
    if queue is None:
        return False
    thread = customers_mail(ticket, session=session)
    mail = notify.Mail(f"status:{row.id}", "status_reply", ticket, queue, row.sender, row.sender_name,
                       queue.answer_language(message.language or ticket.language), row,
                       thread_references([*thread, row]))
    return notify.queue_mail(mail, cause=message, envelope_from=envelope_from, session=session, config=config,
                             secret=secret, now=now)


def _phrase(text: str) -> bool:
    return " ".join(fold(text).strip().rstrip("?.!¿¡").split()).strip("¿¡ ") in PHRASES
