"""The lookups threading makes: each one statement on an indexed column, never a scan.

The statements are built by public functions so that a test can ask the database for their
query plans (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL) and prove the index is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Select
from sqlmodel import Session, col, select

from mailbridge.store.models import Message, MessageRef


class StoredMessage(NamedTuple):
    """Where a stored Message-ID lives: its row and its ticket (None for dropped automatic mail)."""

    row_id: int
    ticket_id: int | None


def select_by_message_ids(message_ids: Sequence[str]) -> Select:
    """Stored messages with one of these Message-IDs (unique index on message.message_id)."""
    return select(Message.message_id, Message.id, Message.ticket_id).where(
        col(Message.message_id).in_(list(message_ids))
    )


def select_referencing(refs: Sequence[str]) -> Select:
    """Ticketed messages that name one of `refs` in In-Reply-To/References (index on message_ref.ref)."""
    return (
        select(MessageRef.ref, Message.ticket_id, Message.message_id)
        .join(Message, col(Message.id) == col(MessageRef.message_row_id))
        .where(col(MessageRef.ref).in_(list(refs)), col(Message.ticket_id).is_not(None))
        .order_by(col(Message.id))
    )


def stored_messages(message_ids: Sequence[str], *, session: Session) -> dict[str, StoredMessage]:
    """Message-ID → stored row, for those of `message_ids` that are stored."""
    if not message_ids:
        return {}
    rows = session.exec(select_by_message_ids(message_ids))
    return {message_id: StoredMessage(row_id, ticket_id) for message_id, row_id, ticket_id in rows}


def referencing_messages(refs: Sequence[str], *, session: Session) -> dict[str, tuple[int, str]]:
    """Ref → (ticket id, Message-ID) of the first ticketed stored message that names it."""
    if not refs:
        return {}
    found: dict[str, tuple[int, str]] = {}
    for ref, ticket_id, message_id in session.exec(select_referencing(refs)):
        found.setdefault(ref, (ticket_id, message_id))
    return found
