"""Data access for tickets, participants, messages, references and attachments (session keyword-only)."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from copy import deepcopy
from datetime import datetime
from functools import cache, partial
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapper, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, SQLModel, col, select

# Imported for its hook: every ticket change is logged for the SLA clocks, whoever makes it.
from mailbridge.store import repo_clock  # noqa: F401
from mailbridge.store.direct import run
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

Row = TypeVar("Row", bound=SQLModel)
CODE_DIGITS = 6
_MESSAGE_ID_CONSTRAINT = "uq_message_message_id"


def dialect_insert(session: Session, table, values: dict):
    """An INSERT that knows ON CONFLICT, for this session's database (SQLite or PostgreSQL)."""
    return prepared_insert(session, table).values(**values)


def insert_ignoring_conflicts(session: Session, table, values: dict, conflict_columns: Sequence[str]):
    """An INSERT … ON CONFLICT DO NOTHING: the race-free way to store something at most once."""
    return prepared_insert(session, table, ignoring=conflict_columns).values(**values)


def prepared_insert(session: Session, table, *, ignoring: Sequence[str] = (), returning: str | None = None):
    """An INSERT built once per shape, run as `run(session, statement, values)`.

    `ignoring`: ON CONFLICT on these columns DO NOTHING; `returning`: the column it returns.
    Building a statement with `.values()` costs more than running it, and a statement reused as it
    is skips that and is found in the compiled-statement cache.
    """
    return _insert(session.get_bind().dialect.name, table, tuple(ignoring), returning)


@cache
def _insert(dialect_name: str, table, ignoring: tuple[str, ...], returning: str | None):
    # Imported here: on SQLite (every CLI command of a default install) the PostgreSQL dialect
    # would cost some 50 ms of start-up for nothing.
    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql as dialect
    else:
        dialect = sqlite
    statement = dialect.insert(table)
    if ignoring:
        statement = statement.on_conflict_do_nothing(index_elements=list(ignoring))
    return statement.returning(table.c[returning]) if returning else statement


def new_row(model: type[Row], **values: object) -> Row:
    """A new, unsaved row of a table model: `values` over the fields' defaults, not validated.

    Made the way SQLAlchemy makes an object a query loads, not by the model's constructor,
    which sets every field through SQLModel's and SQLAlchemy's attribute events and cost more
    than the INSERT that stores the row (`add_row`). The constructor of a table model does not
    validate either; it ignores an unknown name, which here is an error.
    """
    names, mapper, defaults = _blueprint(model)
    unknown = values.keys() - names
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    # As the constructor does first: the models' mappings are completed at their first use.
    mapper.registry.configure()
    row = mapper.class_manager.new_instance()
    # The given values first, then the defaults: the order (and repr) the constructor gives.
    row.__dict__.update(values)
    row.__dict__.update({name: factory() if factory else default for name, default, factory in defaults
                         if name not in values})
    return row


@cache
def _blueprint(model: type[SQLModel]) -> tuple[frozenset[str], Mapper, tuple[tuple[str, object, Callable | None], ...]]:
    """A model's field names, mapper, and (name, default, default factory) of each field that has a default."""
    fields = model.model_fields
    # What `FieldInfo.get_default` gives, read once: a default factory (or a copy of a mutable
    # default) is still made per row.
    defaults = tuple((name, field.default, field.default_factory or _copier(field.default))
                     for name, field in fields.items() if not field.is_required())
    return frozenset(fields), inspect(model), defaults


def _copier(default: object) -> Callable | None:
    if isinstance(default, str | int | float | bytes | datetime | tuple | frozenset) or default is None:
        return None
    return partial(deepcopy, default)


def add_row(row: SQLModel, *, session: Session) -> SQLModel:
    """Insert an ORM object with one Core INSERT … RETURNING id and attach it as if flushed.

    A flush of one new object costs several times the statement it runs; the object is then
    in the session like a loaded one, so later changes to it are flushed as usual.
    """
    insert_row(row, session=session)
    make_transient_to_detached(row)
    session.add(row)
    return row


def insert_row(row: SQLModel, *, session: Session) -> SQLModel:
    """Insert a row made by `new_row` with one Core INSERT … RETURNING id, and set its id.

    The object stays outside the session: for a row that is only read after it is stored (a
    message, whose values the effects use), attaching it costs more than it gives.
    """
    table = row.__table__
    # Read from the object's dict: `new_row` put every value there, and an attribute read through
    # SQLAlchemy's instrumentation cost more than the rest of the insert's preparation.
    fields = row.__dict__
    values = {key: fields.get(key) for key in _insert_keys(table)}
    row.id = run(session, prepared_insert(session, table, returning="id"), values).scalar_one()
    return row


@cache
def _insert_keys(table) -> tuple[str, ...]:
    return tuple(column.key for column in table.columns if column.key != "id")


def format_code(prefix: str, number: int) -> str:
    """`DYN`, 123 → `DYN-000123` (more digits once a queue passes 999,999 tickets)."""
    return f"{prefix}-{number:0{CODE_DIGITS}d}"


_COUNTER = CodeCounter.__table__
_BUMP = (
    update(_COUNTER)
    .where(_COUNTER.c.prefix == bindparam("code_prefix"))
    .values(last_value=_COUNTER.c.last_value + 1)
    .returning(_COUNTER.c.last_value)
)


def allocate_code(prefix: str, *, session: Session) -> str:
    """The next ticket code for `prefix`, from one atomic increment (no read-then-write race)."""
    value = run(session, _BUMP, {"code_prefix": prefix}).scalar_one_or_none()
    if value is None:
        first = {"prefix": prefix, "last_value": 0}
        run(session, prepared_insert(session, _COUNTER, ignoring=["prefix"]), first)
        value = run(session, _BUMP, {"code_prefix": prefix}).scalar_one()
    return format_code(prefix, value)


def create_ticket(*, session: Session, **fields: object) -> Ticket:
    """A new ticket, stored, the requester recorded as its first participant (`fields`: see `new_ticket`)."""
    return store_ticket(new_ticket(session=session, **fields), session=session)


def new_ticket(
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
    columns: Mapping[str, object] | None = None,
) -> Ticket:
    """A new ticket with its code, not stored yet: `store_ticket` writes it.

    `columns`: further values known when it opens (its classification), stored with it.
    """
    return new_row(
        Ticket,
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
        **(columns or {}),
    )


def store_ticket(ticket: Ticket, *, session: Session, participants: Iterable[tuple[str, str, str]] = ()) -> Ticket:
    """Insert a new ticket; its requester is its first participant, then (address, name, role) of `participants`."""
    add_row(ticket, session=session)
    add_participants(ticket.id, [(ticket.requester, ticket.requester_name, "requester"), *participants],
                     session=session)
    return ticket


def add_participant(ticket_id: int, address: str, name: str, role: str, *, session: Session) -> bool:
    """Record someone on a ticket (lowercased address); False when they were already there."""
    values = {"ticket_id": ticket_id, "address": address.lower(), "name": name, "role": role}
    statement = prepared_insert(session, Participant.__table__, ignoring=["ticket_id", "address"], returning="id")
    return run(session, statement, values).scalar_one_or_none() is not None


def add_participants(ticket_id: int, people: Iterable[tuple[str, str, str]], *, session: Session) -> None:
    """`add_participant` for each (address, name, role), in order, with one statement."""
    rows = [{"ticket_id": ticket_id, "address": address.lower(), "name": name, "role": role}
            for address, name, role in people]
    if rows:
        run(session, prepared_insert(session, Participant.__table__, ignoring=["ticket_id", "address"]), rows)


def participants_of(ticket_id: int, *, session: Session) -> list[Participant]:
    statement = select(Participant).where(Participant.ticket_id == ticket_id).order_by(Participant.id)
    return list(session.exec(statement))


_PARTICIPANT = Participant.__table__
_IS_PARTICIPANT = select(_PARTICIPANT.c.id).where(
    _PARTICIPANT.c.ticket_id == bindparam("ticket_id"), _PARTICIPANT.c.address == bindparam("address")
)


def is_participant(ticket_id: int, address: str, *, session: Session) -> bool:
    """Whether `address` is recorded on the ticket (one lookup on the unique (ticket, address) index)."""
    found = run(session, _IS_PARTICIPANT, {"ticket_id": ticket_id, "address": address.lower()})
    return found.first() is not None


def add_refs(
    message_row_id: int, *, in_reply_to: Iterable[str], references: Iterable[str], session: Session
) -> None:
    """Record the Message-IDs a stored message names, In-Reply-To first, each once."""
    rows: dict[str, dict] = {}
    for kind, refs in (("in-reply-to", in_reply_to), ("references", references)):
        for ref in refs:
            if ref and ref not in rows:
                rows[ref] = {"message_row_id": message_row_id, "ref": ref, "kind": kind}
    if rows:
        run(session, prepared_insert(session, MessageRef.__table__), list(rows.values()))


def store_attachments(message_row_id: int, attachments: Sequence[ParsedAttachment], *, session: Session) -> None:
    """Record a message's attachments (numbered from 1) with two statements for all; each one's bytes go
    into `Blob` only if that content is not stored yet."""
    if not attachments:
        return
    run(session, prepared_insert(session, Blob.__table__, ignoring=["sha256"]), [_blob(a) for a in attachments])
    rows = [_attachment(message_row_id, a, index) for index, a in enumerate(attachments, start=1)]
    run(session, prepared_insert(session, Attachment.__table__), rows)


def _blob(attachment: ParsedAttachment) -> dict:
    return {"sha256": attachment.sha256, "size": attachment.size, "data": attachment.payload}


def _attachment(message_row_id: int, attachment: ParsedAttachment, index: int) -> dict:
    return {
        "message_row_id": message_row_id,
        "filename": attachment.filename,
        "safe_name": safe_filename(attachment.filename, attachment.content_type, index),
        "content_type": attachment.content_type[:255],
        "size": attachment.size,
        "sha256": attachment.sha256,
        "inline": attachment.inline,
        "content_id": attachment.content_id,
    }


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


_RAW = RawMessage.__table__
_MARK_RAW = update(_RAW).where(_RAW.c.id == bindparam("raw_id")).values(state=bindparam("new_state"))


def mark_raw(raw_id: int, state: str, *, session: Session) -> None:
    """Set a raw message's state ("done" in the same transaction that stores its message)."""
    run(session, _MARK_RAW, {"raw_id": raw_id, "new_state": state})


_TICKET = Ticket.__table__
_TICKET_KEYS = tuple(column.key for column in _TICKET.columns)
_TICKET_BY_ID = select(*_TICKET.columns).where(_TICKET.c.id == bindparam("ticket_id"))
_TICKET_BY_CODE = select(*_TICKET.columns).where(_TICKET.c.code == bindparam("code"))


def ticket_by_id(ticket_id: int, *, session: Session) -> Ticket | None:
    """The ticket with this id, held for the rest of the transaction (see `_held`)."""
    if identity_key(Ticket, ticket_id) in session.identity_map:
        return _held(session.get(Ticket, ticket_id), session=session)
    return _loaded(run(session, _TICKET_BY_ID, {"ticket_id": ticket_id}).first(), session=session)


def ticket_by_code(code: str, *, session: Session) -> Ticket | None:
    """The ticket with this code, held for the rest of the transaction (see `_held`)."""
    return _loaded(run(session, _TICKET_BY_CODE, {"code": code.upper()}).first(), session=session)


def _loaded(row, *, session: Session) -> Ticket | None:
    """The session's object for a ticket row read with `run`: the one it holds, or this row attached as loaded.

    The ORM's own loading (`session.get`, a query) cost several times the SELECT, and the
    storing worker looks up the ticket of every reply. A ticket the session holds already may
    have changes not yet flushed: that object is the answer, not the row.
    """
    if row is None:
        return None
    held = session.identity_map.get(identity_key(Ticket, row[0]))
    if held is not None:
        return _held(held, session=session)
    ticket = new_row(Ticket, **dict(zip(_TICKET_KEYS, row, strict=True)))
    make_transient_to_detached(ticket)
    session.add(ticket)
    return _held(ticket, session=session)


def _held(ticket: Ticket | None, *, session: Session) -> Ticket | None:
    # The session's identity map holds what it loaded only weakly: a ticket that threading
    # looked at and let go was read again by the pipeline's next lookup of the same id.
    if ticket is not None:
        session.info.setdefault("held_tickets", {})[ticket.id] = ticket
    return ticket


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
