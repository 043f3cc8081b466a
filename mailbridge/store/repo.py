"""Data access for tickets, participants, messages, references and attachments (session keyword-only)."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

# Imported for its hook: every ticket change is logged for the SLA clocks, whoever makes it.
from mailbridge.store import repo_clock  # noqa: F401
from mailbridge.store.models import (
    Attachment,
    Blob,
    CodeCounter,
    Message,
    MessageRef,
    Participant,
    RawMessage,
    Ticket,
)

if TYPE_CHECKING:
    from mailbridge.parse.model import Attachment as ParsedAttachment

CODE_DIGITS = 6
_MESSAGE_ID_CONSTRAINT = "uq_message_message_id"


def dialect_insert(session: Session, table, values: dict):
    """An INSERT that knows ON CONFLICT, for this session's database (SQLite or PostgreSQL)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values)


def insert_ignoring_conflicts(session: Session, table, values: dict, conflict_columns: Sequence[str]):
    """An INSERT … ON CONFLICT DO NOTHING: the race-free way to store something at most once."""
    return dialect_insert(session, table, values).on_conflict_do_nothing(index_elements=conflict_columns)


def format_code(prefix: str, number: int) -> str:
    """`DYN`, 123 → `DYN-000123` (more digits once a queue passes 999,999 tickets)."""
    return f"{prefix}-{number:0{CODE_DIGITS}d}"


def allocate_code(prefix: str, *, session: Session) -> str:
    """The next ticket code for `prefix`, from one atomic increment (no read-then-write race)."""
    bump = (
        update(CodeCounter.__table__)
        .where(CodeCounter.__table__.c.prefix == prefix)
        .values(last_value=CodeCounter.__table__.c.last_value + 1)
        .returning(CodeCounter.__table__.c.last_value)
    )
    value = session.execute(bump).scalar_one_or_none()
    if value is None:
        first = {"prefix": prefix, "last_value": 0}
        session.execute(insert_ignoring_conflicts(session, CodeCounter.__table__, first, ["prefix"]))
        value = session.execute(bump).scalar_one()
    return format_code(prefix, value)


def create_ticket(
    *,
    session: Session,
    queue: str,
    code_prefix: str,
    requester: str,
    requester_name: str,
    subject: str,
    received_at: datetime,
    now: datetime,
    language: str | None = None,
    linked_ticket_id: int | None = None,
) -> Ticket:
    """A new ticket with its code, the requester recorded as its first participant."""
    ticket = Ticket(
        code=allocate_code(code_prefix, session=session),
        queue=queue,
        requester=requester.lower(),
        requester_name=requester_name,
        subject=subject,
        language=language,
        created_at=now,
        updated_at=now,
        received_at=received_at,
        linked_ticket_id=linked_ticket_id,
    )
    session.add(ticket)
    session.flush()
    add_participant(ticket.id, requester, requester_name, "requester", session=session)
    return ticket


def add_participant(ticket_id: int, address: str, name: str, role: str, *, session: Session) -> bool:
    """Record someone on a ticket (lowercased address); False when they were already there."""
    table = Participant.__table__
    values = {"ticket_id": ticket_id, "address": address.lower(), "name": name, "role": role}
    statement = insert_ignoring_conflicts(session, table, values, ["ticket_id", "address"])
    return session.execute(statement.returning(table.c.id)).scalar_one_or_none() is not None


def participants_of(ticket_id: int, *, session: Session) -> list[Participant]:
    statement = select(Participant).where(Participant.ticket_id == ticket_id).order_by(Participant.id)
    return list(session.exec(statement))


def is_participant(ticket_id: int, address: str, *, session: Session) -> bool:
    """Whether `address` is recorded on the ticket (one lookup on the unique (ticket, address) index)."""
    statement = select(Participant.id).where(
        Participant.ticket_id == ticket_id, Participant.address == address.lower()
    )
    return session.exec(statement).first() is not None


def add_refs(
    message_row_id: int, *, in_reply_to: Iterable[str], references: Iterable[str], session: Session
) -> None:
    """Record the Message-IDs a stored message names, In-Reply-To first, each once."""
    seen: set[str] = set()
    for kind, refs in (("in-reply-to", in_reply_to), ("references", references)):
        for ref in refs:
            if ref and ref not in seen:
                seen.add(ref)
                session.add(MessageRef(message_row_id=message_row_id, ref=ref, kind=kind))
    session.flush()


def store_attachment(
    message_row_id: int, attachment: ParsedAttachment, index: int, *, session: Session
) -> Attachment:
    """Record one attachment; its bytes go into `Blob` only if that content is not stored yet."""
    blob = {"sha256": attachment.sha256, "size": attachment.size, "data": attachment.payload}
    session.execute(insert_ignoring_conflicts(session, Blob.__table__, blob, ["sha256"]))
    row = Attachment(
        message_row_id=message_row_id,
        filename=attachment.filename,
        safe_name=safe_filename(attachment.filename, attachment.content_type, index),
        content_type=attachment.content_type[:255],
        size=attachment.size,
        sha256=attachment.sha256,
        inline=attachment.inline,
        content_id=attachment.content_id,
    )
    session.add(row)
    return row


_UNSAFE_CHARS = re.compile(r"[^\w.\-() ]+")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_MAX_NAME = 120


def safe_filename(filename: str | None, content_type: str, index: int) -> str:
    """A name safe to write on any file system and to offer for download, keeping what we can."""
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_CHARS.sub("_", name).strip(" ._")
    if _WINDOWS_RESERVED.match(name):
        name = "_" + name
    if not name:
        extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
        return f"attachment-{index}{extension}"
    if len(name) > _MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) <= 10 else ""
        name = name[: _MAX_NAME - len(keep) - 1] + ("." + keep if keep else "")
    return name


def is_duplicate_message_error(error: BaseException) -> bool:
    """Whether an exception is the unique Message-ID constraint refusing a second copy."""
    if not isinstance(error, IntegrityError):
        return False
    diag = getattr(error.orig, "diag", None)
    if diag is not None:
        return getattr(diag, "constraint_name", None) == _MESSAGE_ID_CONSTRAINT
    return "UNIQUE constraint failed: message.message_id" in str(error.orig)


def mark_raw(raw_id: int, state: str, *, session: Session) -> None:
    """Set a raw message's state ("done" in the same transaction that stores its message)."""
    table = RawMessage.__table__
    session.execute(update(table).where(table.c.id == raw_id).values(state=state))


def ticket_by_code(code: str, *, session: Session) -> Ticket | None:
    return session.exec(select(Ticket).where(Ticket.code == code.upper())).first()


def list_tickets(
    *, session: Session, queue: str | None = None, status: str | None = None, limit: int = 200
) -> list[Ticket]:
    """Tickets most recently updated first, optionally of one queue and/or one status."""
    statement = select(Ticket)
    if queue is not None:
        statement = statement.where(Ticket.queue == queue)
    if status is not None:
        statement = statement.where(Ticket.status == status)
    statement = statement.order_by(col(Ticket.updated_at).desc(), col(Ticket.id).desc()).limit(limit)
    return list(session.exec(statement))


def messages_of(ticket_id: int, *, session: Session) -> list[Message]:
    """A ticket's conversation in the order it was received."""
    statement = (
        select(Message)
        .where(Message.ticket_id == ticket_id)
        .order_by(col(Message.received_at), col(Message.id))
    )
    return list(session.exec(statement))


def message_by_message_id(message_id: str, *, session: Session) -> Message | None:
    return session.exec(select(Message).where(Message.message_id == message_id.strip("<> "))).first()


def attachments_of(message_row_ids: Sequence[int], *, session: Session) -> dict[int, list[Attachment]]:
    """Attachments grouped by message row id (one query for a whole conversation)."""
    grouped: dict[int, list[Attachment]] = {row_id: [] for row_id in message_row_ids}
    if not message_row_ids:
        return grouped
    statement = (
        select(Attachment)
        .where(col(Attachment.message_row_id).in_(message_row_ids))
        .order_by(col(Attachment.id))
    )
    for attachment in session.exec(statement):
        grouped[attachment.message_row_id].append(attachment)
    return grouped


def blob_bytes(sha256: str, *, session: Session) -> bytes | None:
    blob = session.get(Blob, sha256)
    return blob.data if blob else None


def raw_message(raw_id: int, *, session: Session) -> RawMessage | None:
    return session.get(RawMessage, raw_id)
