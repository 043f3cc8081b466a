"""The tables: raw mail, tickets, participants, messages, references, attachments, quarantine, outbox.

Every timestamp is an aware UTC datetime (`UTCDateTime`); list-valued columns are JSON. Columns
that threading looks up (Message-IDs, references, ticket codes) carry an index, so finding a
ticket for a reply stays an indexed lookup however large the tables grow. Constraint and index
names follow one naming convention so that SQLite, PostgreSQL and the migrations agree on them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, LargeBinary, Text, UniqueConstraint, select
from sqlalchemy.orm import column_property
from sqlmodel import Field, SQLModel

# The columns' values live in `statuses` (importable without SQLAlchemy) and are named here too.
from mailbridge.store.statuses import MESSAGE_KINDS, QUARANTINE_STATES, RAW_STATES, TICKET_STATUSES  # noqa: F401
from mailbridge.store.types import UTCDateTime

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



def _when(*, nullable: bool = False, index: bool = False):
    """A UTC timestamp column (a fresh Column each call: SQLAlchemy columns belong to one table)."""
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json_list():
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class RawMessage(SQLModel, table=True):
    """A message exactly as received; the first thing written, before anything can fail."""

    __tablename__ = "raw_message"
    # The worker takes pending rows oldest first: (state, id) hands them over in that order, where
    # an index on state alone leaves PostgreSQL to sort every pending row, or, with a backlog, to
    # walk the primary key past every processed one (SQLite's indexes end in the row id anyway).
    __table_args__ = (Index("ix_raw_message_state_id", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int
    source: str = Field(max_length=1000)
    envelope_from: str | None = Field(default=None, max_length=998)
    envelope_rcpts: list = _json_list()
    received_at: datetime = _when()
    state: str = Field(default="pending", max_length=16)


class RawAttempt(SQLModel, table=True):
    """How often a worker started processing a raw message, committed before it starts.

    A table of its own rather than a column of `raw_message`: on PostgreSQL the worker holds
    the raw row locked while it processes it, and the count must be committed beside that lock
    by another transaction. No foreign key, for the same reason (it would wait for the lock).
    """

    __tablename__ = "raw_attempt"

    raw_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    attempts: int = 0
    started_at: datetime = _when()


class Ticket(SQLModel, table=True):
    """One customer request in one product queue, known to people by its code."""

    # Ticket listings filter by queue and status, newest first.
    __table_args__ = (Index("ix_ticket_queue_status_updated_at", "queue", "status", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    queue: str = Field(max_length=64)
    status: str = Field(default="new", max_length=16, index=True)
    priority: str = Field(default="routine", max_length=16)
    type: str = Field(default="question", max_length=16)
    requester: str = Field(max_length=320, index=True)
    requester_name: str = Field(default="", max_length=500)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    language: str | None = Field(default=None, max_length=8)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    received_at: datetime = _when()
    resolved_at: datetime | None = _when(nullable=True)
    closed_at: datetime | None = _when(nullable=True)
    reopened_count: int = 0
    # Indexed as every other foreign key is: without it, SQLite's plan of a ticket INSERT holds a
    # scan of the whole table for tickets linked to the new one (for a pending FK violation).
    linked_ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    # SLA (mailbridge.sla.clocks): when the ticket counts as received in its queue's calendar, the
    # customer's plan, and the due times the overdue listing and escalation read by index.
    deemed_received_at: datetime | None = _when(nullable=True)
    plan: str | None = Field(default=None, max_length=64)
    next_due_at: datetime | None = _when(nullable=True, index=True)
    deadline_at: datetime | None = _when(nullable=True)
    deadline_warn_at: datetime | None = _when(nullable=True, index=True)
    # The agent (address) who owns the ticket: notices and escalations go to them when set.
    owner: str | None = Field(default=None, max_length=320, index=True)
    # The agent who opened the ticket for a customer (#fwd, #phone); None when the customer did.
    opened_by: str | None = Field(default=None, max_length=320)
    # A ticket taken by phone: when the agent who took it is reminded that the customer has not
    # confirmed it in writing; emptied by the customer's reply or by the reminder.
    confirm_due_at: datetime | None = _when(nullable=True, index=True)
    # When the escalation tick should next look at the ticket (mailbridge.escalation): set to the
    # time of a change by the clocks, to the next step's time by the tick, empty when none is left.
    escalate_at: datetime | None = _when(nullable=True, index=True)


class TicketEvent(SQLModel, table=True):
    """A change of a ticket's status, priority or type: the log SLA clocks are derived from."""

    __tablename__ = "ticket_event"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = _when()
    # pending, open, resolved, reopened, closed (status changes), priority or type.
    kind: str = Field(max_length=16)
    before: str = Field(default="", max_length=16)
    after: str = Field(default="", max_length=16)


class Participant(SQLModel, table=True):
    """Someone whose mail threads onto a ticket and who may be written to: requester, cc or agent."""

    __table_args__ = (UniqueConstraint("ticket_id", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    address: str = Field(max_length=320)
    name: str = Field(default="", max_length=500)
    role: str = Field(max_length=16)


class Message(SQLModel, table=True):
    """One mail (or note) on a ticket; `ticket_id` is empty for dropped automatic mail."""

    id: int | None = Field(default=None, primary_key=True)
    # A note typed by an agent has no raw mail behind it, hence nullable.
    raw_id: int | None = Field(default=None, foreign_key="raw_message.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    message_id: str = Field(max_length=998, unique=True)
    direction: str = Field(max_length=3)
    kind: str = Field(max_length=16)
    sender: str = Field(default="", max_length=320)
    sender_name: str = Field(default="", max_length=500)
    recipients: list = _json_list()
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    reply_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    date_header: datetime | None = _when(nullable=True)
    received_at: datetime = _when()
    auto_kind: str | None = Field(default=None, max_length=16)
    route_rule: str = Field(default="", max_length=64)
    route_detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    thread_rule: str = Field(default="", max_length=64)
    thread_detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    defects: list = _json_list()


class MessageRef(SQLModel, table=True):
    """A Message-ID that a stored message names in In-Reply-To or References."""

    __tablename__ = "message_ref"
    __table_args__ = (UniqueConstraint("message_row_id", "ref"),)

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id")
    ref: str = Field(max_length=998, index=True)
    # "in-reply-to" or "references": the first is the direct parent, so it is preferred.
    kind: str = Field(max_length=16)


class Blob(SQLModel, table=True):
    """Attachment bytes, stored once per content hash whatever the number of messages carrying them."""

    sha256: str = Field(max_length=64, primary_key=True)
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Attachment(SQLModel, table=True):
    """One attachment of one message; the bytes live in `Blob` under `sha256`."""

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id", index=True)
    filename: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    safe_name: str = Field(max_length=255)
    content_type: str = Field(max_length=255)
    size: int
    sha256: str = Field(max_length=64, foreign_key="blob.sha256", index=True)
    inline: bool = False
    content_id: str | None = Field(default=None, max_length=998)


class Quarantine(SQLModel, table=True):
    """A raw message that failed a stage: one row per raw message, updated on each failed retry."""

    id: int | None = Field(default=None, primary_key=True)
    raw_id: int = Field(foreign_key="raw_message.id", unique=True)
    stage: str = Field(max_length=32)
    error: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _when()
    updated_at: datetime = _when()
    attempts: int = 1
    state: str = Field(default="held", max_length=16, index=True)


class CodeCounter(SQLModel, table=True):
    """The last ticket number handed out for one code prefix."""

    __tablename__ = "code_counter"

    prefix: str = Field(max_length=16, primary_key=True)
    last_value: int = 0



OUTBOX_STATES = ("queued", "sent", "held", "failed", "bounced", "dropped")


class Outbox(SQLModel, table=True):
    """One mail we send, rendered when its cause is stored and delivered later by the outbox worker.

    `intent` names why it exists (`ack:<ticket id>`, `notify:<message row>:<agent>`); its unique
    constraint is what makes a mail go out once per intent, however often its cause is replayed.
    `message_id` is ours and fixed at queue time, so a bounce or a re-send is recognisable.
    The mail itself is in `OutboxContent`; `content` reads it with the row.
    """

    # The worker looks for due mail; the rate limit counts recent mail to one recipient.
    __table_args__ = (
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_recipient_created_at", "recipient", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    intent: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=32)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    message_id: str = Field(max_length=998, unique=True)
    mail_from: str = Field(max_length=320)
    recipient: str = Field(max_length=320)
    automatic: bool = True
    state: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _when()
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False))
    # The instance holding the lease (`next_attempt_at` in the future) while it sends the mail.
    claimed_by: str | None = Field(default=None, max_length=200)


class OutboxContent(SQLModel, table=True):
    """The mail of one outbox row (written with it, deleted with it), in a table of its own.

    SQLite rewrites a whole row, its overflow pages too, whenever an UPDATE changes the row's
    size: the sender's claim and record did, and the mail (14 KB on average) was written twice
    more per send. Here it is written once.
    """

    __tablename__ = "outbox_content"

    outbox_id: int = Field(sa_column=Column(ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


# The mail of an outbox row, read with it by every query of `Outbox` (read only: `enqueue_all` writes it).
Outbox.content = column_property(
    select(OutboxContent.content).where(OutboxContent.outbox_id == Outbox.id).scalar_subquery())


class AddressHealth(SQLModel, table=True):
    """What bounces told us about one address: undeliverable until a time, or only delayed."""

    __tablename__ = "address_health"

    address: str = Field(max_length=320, primary_key=True)
    undeliverable_until: datetime | None = _when(nullable=True)
    last_status: str = Field(default="", max_length=16)
    last_bounce_at: datetime | None = _when(nullable=True)
    bounces: int = 0


ESCALATION_STATES = ("done", "failed", "skipped")
SMS_STATES = ("queued", "sent", "failed")


class EscalationStep(SQLModel, table=True):
    """One ladder step run for one ticket: what it did (`detail`), claimed once by its unique key.

    `key` is `<ladder>#<step>@<clock>:<cycle start>`: a step runs once per clock cycle, and the
    unique (ticket_id, key) is what makes it run once across restarts and instances.
    """

    __tablename__ = "escalation_step"
    __table_args__ = (UniqueConstraint("ticket_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    key: str = Field(max_length=200)
    ladder: str = Field(max_length=64)
    step: int
    clock: str = Field(max_length=32)
    due_at: datetime = _when()
    ran_at: datetime = _when()
    state: str = Field(default="done", max_length=16)
    detail: list = _json_list()


class Sms(SQLModel, table=True):
    """One SMS we send: queued with its step, claimed for sending by lease, then sent or failed.

    `intent` (`esc:<step id>:<number>`, or `test:<uuid>`) is unique and is the idempotency key
    given to the provider, so a retry after a crash is recognisable where the gateway allows it.
    """

    __table_args__ = (Index("ix_sms_state_next_attempt_at", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    intent: str = Field(max_length=200, unique=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    step_id: int | None = Field(default=None, foreign_key="escalation_step.id", index=True)
    recipient: str = Field(max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _when()
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)
    provider_id: str = Field(default="", max_length=200)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False))
