"""The mail a stored message causes, queued in the same transaction: acknowledgement, agent notices, bounces.

- A customer's first mail (a new ticket) gets an acknowledgement with the ticket code (a ticket
  taken by phone: the acknowledgement that asks for a written confirmation).
- Each customer mail on a ticket, first or follow-up, notifies the ticket's owner, or every
  agent of the queue when it has none (`[agent_mail] notices_to`), with the customer's files
  listed and attached up to `notice_attachments_max_bytes`.
- A permanent bounce of one of our mails marks the failed addresses undeliverable for
  `[outbox] undeliverable_days`, and the returned mail's outbox row `bounced`; a delay (4.x.x)
  is only recorded, as the message on its ticket.

Every mail passes loop protection (`mailbridge.outgoing.loops`) first; the rate limit applies to mail to
customers, not to the queue's own agents. `queue_mail` is also what status changes use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel import Session

from mailbridge import ownership
from mailbridge.sla import clocks
from mailbridge.outgoing import attachments as files
from mailbridge.outgoing import loops
from mailbridge.outgoing import outbox
from mailbridge.outgoing.compose import OutAttachment, Outgoing, compose, mime_body
from mailbridge.config.models import Config, QueueConfig
from mailbridge.parse.model import ParsedMessage
from mailbridge.store.models import Message, Ticket
from mailbridge.outgoing.templates import Rendered, mail_context, templates_for
from mailbridge.thread import DERIVED_DOMAIN
from mailbridge.tokens import is_our_message_id, our_message_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Mail:
    """One mail to queue: why (intent), what (kind), to whom, in which language and thread."""

    intent: str
    kind: str
    ticket: Ticket
    queue: QueueConfig
    recipient: str
    recipient_name: str
    language: str
    about: Message | None
    references: Sequence[str] = ()
    # Automatic mail counts towards the rate limit (when `limited`) and says Auto-Submitted.
    automatic: bool = True
    limited: bool = True
    auto_submitted: str | None = "auto-replied"
    # Already written (an agent's relayed answer) instead of rendered from the `kind` template.
    rendered: Rendered | None = None
    from_name: str | None = None
    attachments: Sequence[OutAttachment] = ()
    cc: Sequence[tuple[str, str]] = ()
    # The files of the mail it is about, listed by the template (`message.attachments`).
    listed: Sequence[dict] = ()
    # More template variables (`extra.*`) for kinds that need them.
    extra: dict | None = None
    # The Message-ID answered, when it is not `about`'s (a customer's mail an agent forwarded).
    parent: str | None = None
    # What an escalation mail says about its step (`escalation.*` in templates; empty for other mail).
    escalation: Mapping[str, str] | None = None


def queue_effects(message: ParsedMessage, row: Message, ticket: Ticket | None, created: bool, *,
                  envelope_from: str | None, session: Session, config: Config, secret: bytes,
                  now: datetime) -> None:
    """Queue what this stored message causes (see the module docstring)."""
    if message.auto is not None and message.auto.kind == "bounce":
        note_bounce(message, session=session, config=config, secret=secret, now=now)
    queue = config.queue(ticket.queue) if ticket is not None else None
    if ticket is None or queue is None or row.kind != "customer":
        return
    mails = [_ack(message, row, ticket, queue)] if created and config.outbox.send_acknowledgements else []
    if config.outbox.notify_agents:
        mails += _agent_notices(message, row, ticket, queue, created, config)
    # Deferred: inside the worker's group transaction (`outbox.deferred`) a group's acknowledgements
    # and notices are inserted together at its end.
    queue_mails(mails, cause=message, envelope_from=envelope_from, session=session, config=config,
                secret=secret, now=now, defer=True)


def _ack(message: ParsedMessage, row: Message, ticket: Ticket, queue: QueueConfig) -> Mail:
    # A ticket taken by phone waits for the customer's written confirmation: its ack asks for it.
    kind = "ack_phone" if ticket.confirm_due_at is not None else "ack"
    # A customer mail an agent forwarded (#fwd): the acknowledgement answers the customer's own mail.
    own = (message.message_id or "").strip("<> ")
    parent = own if own and own != row.message_id else None
    references = [*_thread_of(message, row), *([parent] if parent else [])]
    return Mail(f"ack:{ticket.id}", kind, ticket, queue, ticket.requester, ticket.requester_name,
                queue.answer_language(ticket.language), row, references, parent=parent)


def _agent_notices(message: ParsedMessage, row: Message, ticket: Ticket, queue: QueueConfig,
                   created: bool, config: Config) -> list[Mail]:
    kind = "agent_new" if created else "agent_reply"
    shown = files.files(message.attachments, min_inline_image_bytes=config.agent_mail.relay_min_inline_image_bytes)
    # One notice, copied to each agent: `queue_mails` renders and encodes it once for all of them.
    notice = Mail(f"notify:{row.id}:", kind, ticket, queue, "", "", queue.language, row, _thread_of(message, row),
                  limited=False, auto_submitted="auto-generated",
                  attachments=files.to_send(shown, max_bytes=config.agent_mail.notice_attachments_max_bytes),
                  listed=files.listing(shown))
    return [replace(notice, intent=f"notify:{row.id}:{agent}", recipient=agent)
            for agent in ownership.notice_recipients(ticket, queue, config, besides=row.sender)]


def queue_mail(mail: Mail, *, cause: ParsedMessage | None, envelope_from: str | None, session: Session,
               config: Config, secret: bytes, now: datetime) -> bool:
    """Render and queue one mail unless loop protection says never; True when a row was queued."""
    return queue_mails([mail], cause=cause, envelope_from=envelope_from, session=session, config=config,
                       secret=secret, now=now) == 1


def queue_mails(mails: Sequence[Mail], *, cause: ParsedMessage | None, envelope_from: str | None,
                session: Session, config: Config, secret: bytes, now: datetime, defer: bool = False) -> int:
    """`queue_mail` for several mails with one cause; how many rows were queued.

    What loop protection needs of all their recipients is one query, and the rows are one INSERT:
    an acknowledgement and a notice per agent cost two statements, not two per mail. `defer`:
    inserted at the end of an `outbox.deferred` block, when there is one (then the count is of
    the mails not already waiting).
    """
    limit = loops.Limit(config.outbox.max_auto_per_recipient, config.outbox.per_hours)
    states = outbox.recipient_states([mail.recipient for mail in mails],
                                     counted=[mail.recipient for mail in mails if mail.limited], session=session,
                                     since=now - timedelta(hours=config.outbox.per_hours))
    contents = _Contents(config, now)
    # What the causing mail says against automatic mail is the same for all its mails: asked once.
    cause_reason = loops.cause_reason(cause, envelope_from, config.queues, secret)
    rows = []
    for mail in mails:
        recent, until = states[mail.recipient.lower()]
        decision = loops.decide_for(
            mail.recipient, cause=cause_reason, queues=config.queues,
            state=loops.RecipientState(recent if mail.limited else 0, until), limit=limit if mail.limited else None,
            now=now,
        )
        if not decision.send and not decision.hold:
            log.info("%s to %s on %s not sent: %s", mail.kind, mail.recipient, mail.ticket.code, decision.reason)
            continue
        message_id = our_message_id(mail.ticket.id, secret, config.message_domain)
        rendered, body = contents.of(mail)
        rows.append(outbox.outbox_row(
            intent=mail.intent, kind=mail.kind, ticket_id=mail.ticket.id, message_id=message_id,
            mail_from=mail.queue.address, recipient=mail.recipient,
            content=compose(rendered, _outgoing(mail, message_id), secret=secret, now=now, body=body),
            automatic=mail.automatic, now=now, state="held" if decision.hold else "queued", note=decision.reason,
        ))
        if decision.send and mail.automatic:
            # Queued before the next mail's turn, as if it were already in the table it counts.
            states[mail.recipient.lower()] = (recent + 1, until)
    return outbox.enqueue_all(rows, session=session, defer=defer)


class _Contents:
    """The rendered text and MIME body of the mails of one batch, made once for mails that differ
    only in their recipient (a notice to each agent)."""

    def __init__(self, config: Config, now: datetime) -> None:
        self._config = config
        self._now = now
        self._made: dict[tuple, tuple[Rendered, bytes]] = {}
        self._values: dict[tuple, dict] = {}

    def of(self, mail: Mail) -> tuple[Rendered, bytes]:
        # The objects a mail's content is made of: copies made by `replace` share them.
        key = (mail.kind, mail.language, id(mail.ticket), id(mail.queue), id(mail.about), id(mail.rendered),
               id(mail.listed), id(mail.extra), id(mail.escalation), id(mail.attachments))
        if key not in self._made:
            rendered = mail.rendered or self._render(mail)
            self._made[key] = rendered, mime_body(rendered, mail.attachments)
        return self._made[key]

    def _render(self, mail: Mail) -> Rendered:
        ticket, about, config = mail.ticket, mail.about, self._config
        # An acknowledgement and the agents' notices in one language show the same ticket times.
        values_key = (id(ticket), id(mail.queue), mail.language)
        if values_key not in self._values:
            self._values[values_key] = ticket_values(ticket, mail.queue, mail.language, config=config, now=self._now)
        context = mail_context(
            ticket=self._values[values_key],
            queue=mail.queue,
            customer={"name": ticket.requester_name, "address": ticket.requester},
            message={"sender": about.sender if about else "", "sender_name": about.sender_name if about else "",
                     "subject": about.subject if about else "",
                     "text": (about.reply_text or about.text) if about else "", "attachments": list(mail.listed)},
            reopen_window_days=config.threading.reopen_window_days,
            owner=ticket.owner or "",
            extra=mail.extra or {},
            escalation=mail.escalation,
        )
        return templates_for(config).render(mail.kind, mail.queue.name, mail.language, context)


def ticket_values(ticket: Ticket, queue: QueueConfig, language: str, *, config: Config, now: datetime) -> dict:
    """The `ticket.*` variables of templates (mail and SMS) for one ticket, in `language`."""
    return {"code": ticket.code, "subject": ticket.subject, "status": ticket.status,
            "priority": ticket.priority, "type": ticket.type,
            **clocks.mail_times(ticket, queue, language, config=config),
            **clocks.deadline_times(ticket, queue, language, config=config, now=now),
            "confirm_by": clocks.spoken_time(ticket.confirm_due_at, queue, language)}


def _outgoing(mail: Mail, message_id: str) -> Outgoing:
    parent = mail.parent or (mail.about.message_id if mail.about and _referable(mail.about.message_id) else None)
    return Outgoing(mail.queue, mail.recipient, mail.recipient_name, mail.ticket.code, mail.ticket.id,
                    message_id, parent, mail.references, mail.auto_submitted, from_name=mail.from_name,
                    attachments=mail.attachments, cc=mail.cc)


def _thread_of(message: ParsedMessage, row: Message) -> list[str]:
    """The References of a mail answering `row`: its own References, then itself."""
    refs = [ref.strip("<> ") for ref in message.references]
    return [*refs, row.message_id] if _referable(row.message_id) else refs


def _referable(message_id: str) -> bool:
    # A Message-ID we derived for a mail that had none exists only here: no one else knows it.
    return not message_id.endswith("@" + DERIVED_DOMAIN)


def note_bounce(message: ParsedMessage, *, session: Session, config: Config, secret: bytes, now: datetime) -> None:
    """A permanent bounce of OUR mail marks its failed recipients undeliverable for a while.

    Only a bounce naming one of our signed Message-IDs counts: anyone can send a DSN, and a
    forged one must not silence mail to a customer.
    """
    bounce = message.bounce
    original = bounce.original_message_id if bounce else None
    if bounce is None or not bounce.permanent or not original or not is_our_message_id(original, secret):
        return
    until = now + timedelta(days=config.outbox.undeliverable_days)
    statuses = []
    for recipient in bounce.recipients:
        status = recipient.status or "5.0.0"
        if status.startswith("5") and "@" in recipient.address:
            outbox.mark_undeliverable(recipient.address, session=session, until=until, status=status, now=now)
            statuses.append(status)
    outbox.mark_bounced(original, ", ".join(statuses) or "permanent failure", session=session)
