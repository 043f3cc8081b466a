"""An agent's answer as mail to the customer: from the queue in the agent's name, threaded under the customer's mail.

The mail goes to the requester (To) and the ticket's Cc participants (Cc), one outbox row each,
queued in the transaction that stores the answer. From is the queue's address with the queue's
`relay_display_name` ("Ana Kowalska (Pomoc Dynamics)"), Reply-To the ticket's signed reply
address, the subject `Re: [CODE] <ticket subject>`, In-Reply-To the latest mail of the
customer's side and References the first and latest, so it threads in their client. The text is
the answer alone (quoted notice and commands cut); the HTML is the agent's own, cut and
sanitised (`agents.html`); the files are those the agent added: not decorations (logos, pixels)
and not the customer's own files coming back.
"""

from __future__ import annotations

from datetime import datetime
from email.parser import BytesHeaderParser

from sqlmodel import Session, col, select

from mailbridge.agents import html
from mailbridge.config.models import Config, QueueConfig
from mailbridge.outgoing import attachments as files
from mailbridge.outgoing import notify
from mailbridge.outgoing.templates import Rendered
from mailbridge.parse.model import Attachment as ParsedAttachment
from mailbridge.parse.model import ParsedMessage
from mailbridge.status import customers_mail, thread_references
from mailbridge.store import repo
from mailbridge.store.models import Attachment, Message, Ticket
from mailbridge.tokens import is_our_message_id

_HEADERS = BytesHeaderParser()


def relay(message: ParsedMessage, row: Message, ticket: Ticket, queue: QueueConfig, text: str, *,
          rewritten: bool, session: Session, config: Config, secret: bytes, now: datetime) -> int:
    """Queue the answer to the customer's side of the ticket; how many mails were queued."""
    people = _recipients(ticket, row.sender, session=session)
    thread = customers_mail(ticket, session=session)
    sent = _files(message, ticket, row, session=session, config=config, secret=secret)
    fragment = html.answer_html(message.html, text=text, full_text=message.text, rewrite=rewritten,
                                kept_cids=[a.content_id for a in sent if a.content_id])
    rendered = Rendered(f"Re: [{ticket.code}] {ticket.subject}".strip(), text + "\n",
                        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n{fragment}\n</body></html>\n')
    from_name = _from_name(message, queue)
    queued = 0
    for address, name in people:
        others = [(n, a) for a, n in people if a != address]
        mail = notify.Mail(
            f"relay:{row.id}:{address}", "relay", ticket, queue, address, name,
            queue.answer_language(ticket.language), thread[-1] if thread else None, thread_references(thread),
            automatic=False, limited=False, auto_submitted=None, rendered=rendered, from_name=from_name,
            attachments=files.to_send(sent), cc=others,
        )
        queued += notify.queue_mail(mail, cause=message, envelope_from=None, session=session, config=config,
                                    secret=secret, now=now)
    return queued


def _recipients(ticket: Ticket, agent: str, *, session: Session) -> list[tuple[str, str]]:
    """(address, name) of the requester, then each Cc participant; never an agent."""
    found = {ticket.requester: ticket.requester_name}
    for person in repo.participants_of(ticket.id, session=session):
        if person.role == "cc" and person.address not in found:
            found[person.address] = person.name
    return [(address, name) for address, name in found.items() if address and address != agent.lower()]


def _files(message: ParsedMessage, ticket: Ticket, row: Message, *, session: Session, config: Config,
           secret: bytes) -> list[ParsedAttachment]:
    """The agent's own files: not decorations, and not files the ticket already had (the quoted notice's)."""
    earlier = select(Attachment.sha256).join(Message, col(Message.id) == col(Attachment.message_row_id)).where(
        Message.ticket_id == ticket.id, col(Message.id) != row.id)
    known = set(session.exec(earlier))
    # Some clients attach the mail answered ("attach original message"): our notice is not for the customer.
    known |= {a.sha256 for a in message.attachments if _is_our_mail(a, secret)}
    return files.files(message.attachments, min_inline_image_bytes=config.agent_mail.relay_min_inline_image_bytes,
                       leave_out=known)


def _is_our_mail(attachment: ParsedAttachment, secret: bytes) -> bool:
    if attachment.content_type.lower() not in ("message/rfc822", "message/global"):
        return False
    message_id = _HEADERS.parsebytes(attachment.payload).get("Message-ID", "")
    return is_our_message_id(str(message_id), secret)


def _from_name(message: ParsedMessage, queue: QueueConfig) -> str:
    if not queue.relay_display_name:
        return queue.label
    sender = message.from_
    agent = (sender.name.strip() if sender and sender.name.strip() else
             (sender.address.split("@")[0] if sender else ""))
    return queue.relay_display_name.format(agent=agent, queue=queue.label)
