"""Turn stored tickets, messages, our outgoing mail and quarantine entries into text and JSON for the CLI.

Pure: it takes rows already loaded and returns strings or plain dicts. Storage knows nothing of
how things are shown, and the CLI commands stay thin. Times are shown in UTC for now (queues
have no time zone in the configuration yet); JSON carries ISO 8601 with the offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbridge.store.listing import TicketRow
    from mailbridge.store.models import Attachment, Message, Outbox, Participant, Quarantine, RawMessage, Ticket

# The tables (and the email package) are imported only where a function needs them at run time:
# `tickets list` shows `listing.TicketRow`s and must start fast (issue 17).

# How much of a quarantined error or a body a one-line listing shows.
_ONE_LINE = 100


def iso(when: datetime | None) -> str | None:
    """An aware timestamp as ISO 8601 (JSON), or None."""
    return when.isoformat() if when else None


def short_time(when: datetime | None) -> str:
    """A timestamp for people: `2026-02-03 08:12 UTC` (they are stored in UTC)."""
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "-"


def one_line(text: str, width: int = _ONE_LINE) -> str:
    """Whitespace collapsed and cut to `width` characters, for listings."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def mailbox(name: str, address: str) -> str:
    """`Name <address>`, or the bare address when there is no name."""
    return f"{name} <{address}>" if name else address


# Tickets ------------------------------------------------------------------------------------


def ticket_json(ticket: Ticket | TicketRow) -> dict:
    """The fields of a ticket that scripts read, with the queue and code first."""
    return {
        "code": ticket.code,
        "queue": ticket.queue,
        "status": ticket.status,
        "priority": ticket.priority,
        "type": ticket.type,
        "requester": ticket.requester,
        "requester_name": ticket.requester_name,
        "subject": ticket.subject,
        "language": ticket.language,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "received_at": iso(ticket.received_at),
        "resolved_at": iso(ticket.resolved_at),
        "closed_at": iso(ticket.closed_at),
        "reopened_count": ticket.reopened_count,
        "owner": ticket.owner,
        "opened_by": ticket.opened_by,
        "confirm_due_at": iso(ticket.confirm_due_at),
    }


def tickets_table(tickets: Sequence[Ticket | TicketRow]) -> str:
    """One line per ticket: code, queue, status, last update, requester, subject."""
    if not tickets:
        return "no tickets"
    lines = [f"{'CODE':<12} {'QUEUE':<14} {'STATUS':<9} {'UPDATED':<20} {'REQUESTER':<30} SUBJECT"]
    for t in tickets:
        lines.append(
            f"{t.code:<12} {t.queue:<14} {t.status:<9} {short_time(t.updated_at):<20} "
            f"{t.requester:<30} {one_line(t.subject, 60)}"
        )
    return "\n".join(lines)


def attachment_json(attachment: Attachment) -> dict:
    """An attachment as listed under its message (the bytes stay in storage)."""
    return {
        "filename": attachment.filename,
        "safe_name": attachment.safe_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "inline": attachment.inline,
        "content_id": attachment.content_id,
    }


def message_json(message: Message, attachments: Sequence[Attachment] = ()) -> dict:
    """A message on a ticket, with why it went there (route and thread rules)."""
    return {
        "message_id": message.message_id,
        "direction": message.direction,
        "kind": message.kind,
        "sender": message.sender,
        "sender_name": message.sender_name,
        "recipients": list(message.recipients),
        "subject": message.subject,
        "date_header": iso(message.date_header),
        "received_at": iso(message.received_at),
        "auto_kind": message.auto_kind,
        "text": message.text,
        "reply_text": message.reply_text,
        "has_html": message.html is not None,
        "route": {"rule": message.route_rule, "detail": message.route_detail},
        "thread": {"rule": message.thread_rule, "detail": message.thread_detail},
        "defects": list(message.defects),
        "attachments": [attachment_json(a) for a in attachments],
    }


def conversation_json(
    ticket: Ticket,
    participants: Sequence[Participant],
    messages: Sequence[Message],
    attachments: Mapping[int, Sequence[Attachment]],
    sent: Sequence[Outbox] = (),
) -> dict:
    """A ticket with its participants, its whole conversation and the mail we sent, oldest first."""
    data = ticket_json(ticket)
    data["participants"] = [{"address": p.address, "name": p.name, "role": p.role} for p in participants]
    data["messages"] = [message_json(m, attachments.get(m.id, ())) for m in messages]
    data["sent"] = [outgoing_json(row) for row in sent]
    return data


def conversation_text(
    ticket: Ticket,
    participants: Sequence[Participant],
    messages: Sequence[Message],
    attachments: Mapping[int, Sequence[Attachment]],
    sent: Sequence[Outbox] = (),
) -> str:
    """A ticket as people read it: a header block, then its timeline.

    The timeline is each message with its attachments and, between them, one line per mail we
    sent for the ticket, in time order: a message by when it arrived, our mail by when it was
    queued (a tie puts the message first, since it caused the mail).
    """
    from mailbridge.store.models import Outbox

    lines = _ticket_header(ticket, participants)
    after_sent = False
    for number, item in _timeline(messages, sent):
        if isinstance(item, Outbox):
            # Mails queued together (an acknowledgement and the agents' notices) form one block.
            lines.extend([outgoing_line(item)] if after_sent else ["", outgoing_line(item)])
        else:
            lines.append("")
            lines.extend(_message_block(number, item, attachments.get(item.id, ())))
        after_sent = isinstance(item, Outbox)
    return "\n".join(lines)


def _timeline(messages: Sequence[Message], sent: Sequence[Outbox]) -> list[tuple[int, Message | Outbox]]:
    """Messages (numbered in their own order) and our mail merged by time."""
    entries = [(m.received_at, 0, number, m) for number, m in enumerate(messages, start=1)]
    entries += [(row.created_at, 1, index, row) for index, row in enumerate(sent)]
    entries.sort(key=lambda entry: entry[:3])
    return [(number, item) for _, _, number, item in entries]


def _ticket_header(ticket: Ticket, participants: Sequence[Participant]) -> list[str]:
    lines = [
        f"{ticket.code}  {ticket.subject}",
        f"queue {ticket.queue} · status {ticket.status} · priority {ticket.priority} · type {ticket.type}",
        f"requester {mailbox(ticket.requester_name, ticket.requester)}",
    ]
    others = [p for p in participants if p.role != "requester"]
    if others:
        lines.append("participants " + ", ".join(f"{mailbox(p.name, p.address)} ({p.role})" for p in others))
    if ticket.owner or ticket.opened_by:
        people = [f"owner {ticket.owner}" if ticket.owner else "no owner"]
        if ticket.opened_by:
            people.append(f"opened by agent {ticket.opened_by}")
        if ticket.confirm_due_at:
            people.append(f"written confirmation due {short_time(ticket.confirm_due_at)}")
        lines.append(" · ".join(people))
    lines.append(f"received {short_time(ticket.received_at)} · updated {short_time(ticket.updated_at)}")
    if ticket.reopened_count:
        lines.append(f"reopened {ticket.reopened_count} time(s)")
    return lines


def _message_block(number: int, message: Message, attachments: Sequence[Attachment]) -> list[str]:
    kind = message.kind if not message.auto_kind else f"{message.kind} ({message.auto_kind})"
    lines = [
        f"── {number}. {kind} · {short_time(message.received_at)} ──",
        f"From: {mailbox(message.sender_name, message.sender)}",
        f"Subject: {message.subject}",
        "",
    ]
    # The reply text is what the person wrote this time; the full text repeats the quotes.
    body = (message.reply_text or message.text).strip()
    lines.append(body if body else "(no text)")
    if attachments:
        lines.append("Attachments:")
        lines.extend(f"  - {_attachment_line(a)}" for a in attachments)
    return lines


def _attachment_line(attachment: Attachment) -> str:
    shown = attachment.filename or attachment.safe_name
    extra = ", inline" if attachment.inline else ""
    return f"{shown} ({attachment.content_type}, {human_size(attachment.size)}{extra})"


# Outgoing mail ------------------------------------------------------------------------------

# What each kind of our mail is, for people; an unknown kind is shown by its name.
_OUTGOING_KINDS = {
    "ack": "acknowledgement",
    "agent_new": "new-ticket notice",
    "agent_reply": "reply notice",
    "resolved": "'resolved' mail",
    "closed": "'closed' mail",
    "reopened": "'reopened' mail",
    "deadline_warning": "deadline warning",
    "relay": "agent's answer",
    "ack_phone": "phone acknowledgement",
    "agent_answered": "'answered' notice",
    "agent_not_relayed": "'not relayed' mail to the agent",
    "agent_command_error": "'command not understood' mail to the agent",
    "phone_reminder": "phone confirmation reminder",
    "status_reply": "status answer",
}


def outgoing_kind(kind: str) -> str:
    """`ack` → `acknowledgement`: the name a support person uses for one kind of our mail."""
    return _OUTGOING_KINDS.get(kind, kind.replace("_", " "))


def delivery(row: Outbox) -> str:
    """Where a mail of ours stands: sent when, waiting, retrying (why, next try), or why it did not go."""
    if row.state == "sent":
        return f"sent {short_time(row.sent_at)}"
    if row.state == "queued" and not row.last_error:
        return "waiting to be sent"
    if row.state == "queued":
        return (f"retrying after {row.attempts} attempt(s), next {short_time(row.next_attempt_at)}: "
                f"{one_line(row.last_error)}")
    if row.state == "dropped":
        return "dropped by an operator"
    reason = one_line(row.last_error.removeprefix(f"{row.state}: ")) or "no reason recorded"
    return f"{row.state}: {reason}"


def outgoing_line(row: Outbox) -> str:
    """One mail of ours on a ticket's timeline: when it was queued, what, to whom, and how it went."""
    return f"→ {short_time(row.created_at)}  {outgoing_kind(row.kind)} to {row.recipient}: {delivery(row)}"


def outgoing_json(row: Outbox) -> dict:
    """One mail of ours on a ticket, for scripts: what, to whom, its state and its times."""
    return {
        "id": row.id,
        "kind": row.kind,
        "what": outgoing_kind(row.kind),
        "recipient": row.recipient,
        "subject": mail_subject(row.content),
        "message_id": row.message_id,
        "automatic": row.automatic,
        "state": row.state,
        "attempts": row.attempts,
        "queued_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
        "next_attempt_at": iso(row.next_attempt_at) if row.state == "queued" else None,
        "last_error": row.last_error,
    }


def mail_subject(content: bytes) -> str:
    """The decoded Subject of a finished mail of ours ("" when it has none)."""
    from email import policy
    from email.parser import BytesHeaderParser

    headers = BytesHeaderParser(policy=policy.default).parsebytes(content)
    return str(headers.get("subject", ""))


def human_size(size: int) -> str:
    """Bytes as `512 B`, `3.4 KB`, `1.2 MB`."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


# Explain ------------------------------------------------------------------------------------


def explanation_json(message: Message, ticket: Ticket | None, raw: RawMessage | None) -> dict:
    """Why a stored message went where it went: the queue rule and the thread rule, with details."""
    return {
        "message_id": message.message_id,
        "kind": message.kind,
        "auto_kind": message.auto_kind,
        "sender": message.sender,
        "subject": message.subject,
        "source": raw.source if raw else None,
        "received_at": iso(message.received_at),
        "ticket": ticket.code if ticket else None,
        "queue": ticket.queue if ticket else None,
        "route": {"rule": message.route_rule, "detail": message.route_detail},
        "thread": {"rule": message.thread_rule, "detail": message.thread_detail},
    }


def explanation_text(message: Message, ticket: Ticket | None, raw: RawMessage | None) -> str:
    """The same, for people: one line per decision."""
    where = f"ticket {ticket.code} in queue {ticket.queue}" if ticket else "no ticket (not attached)"
    lines = [
        f"message <{message.message_id}>",
        f"from {mailbox(message.sender_name, message.sender)} · {message.kind}"
        + (f" ({message.auto_kind})" if message.auto_kind else ""),
        f"subject {message.subject}",
        f"received {short_time(message.received_at)}" + (f" via {raw.source}" if raw else ""),
        f"went to {where}",
        f"queue: rule {message.route_rule or '-'}: {message.route_detail or '-'}",
        f"thread: rule {message.thread_rule or '-'}: {message.thread_detail or '-'}",
    ]
    return "\n".join(lines)


# Quarantine ---------------------------------------------------------------------------------


def quarantine_json(entry: Quarantine, raw: RawMessage | None = None) -> dict:
    """A quarantined message: where it failed, why, how often, and where it came from."""
    data = {
        "id": entry.id,
        "raw_id": entry.raw_id,
        "stage": entry.stage,
        "error": entry.error,
        "state": entry.state,
        "attempts": entry.attempts,
        "created_at": iso(entry.created_at),
        "updated_at": iso(entry.updated_at),
    }
    if raw is not None:
        data.update(source=raw.source, size=raw.size, sha256=raw.sha256, received_at=iso(raw.received_at))
    return data


def quarantine_table(entries: Sequence[Quarantine]) -> str:
    """One line per quarantined message."""
    if not entries:
        return "quarantine is empty"
    lines = [f"{'ID':>5} {'STAGE':<8} {'STATE':<8} {'TRIES':>5} {'SINCE':<20} ERROR"]
    for e in entries:
        lines.append(
            f"{e.id:>5} {e.stage:<8} {e.state:<8} {e.attempts:>5} {short_time(e.created_at):<20} "
            f"{one_line(e.error, 70)}"
        )
    return "\n".join(lines)


def quarantine_text(entry: Quarantine, raw: RawMessage | None, headers: Sequence[str] = ()) -> str:
    """One quarantined message in full: the failure, the source, and the first header lines."""
    lines = [
        f"quarantine {entry.id} · {entry.state} · stage {entry.stage} · {entry.attempts} attempt(s)",
        f"since {short_time(entry.created_at)} · last {short_time(entry.updated_at)}",
    ]
    if raw is not None:
        lines.append(f"raw message {raw.id}: {raw.size} bytes from {raw.source}, sha256 {raw.sha256}")
    lines += ["", "error:", entry.error]
    if headers:
        lines += ["", "headers:", *headers]
    return "\n".join(lines)
