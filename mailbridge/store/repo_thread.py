"""The lookups threading makes: one statement, each of its halves on an indexed column, never a scan.

The statements are built by public functions so that a test can ask the database for their
query plans (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL) and prove the index is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import CompoundSelect, Select, bindparam, literal_column, select, union_all
from sqlmodel import Session

from mailbridge.store.models import Message, MessageRef
from mailbridge.store.repo import run

_MESSAGE = Message.__table__
_REF = MessageRef.__table__
# Which half of the combined lookup a row comes from.
_STORED, _REFERENCING = 0, 1


class StoredMessage(NamedTuple):
    """Where a stored Message-ID lives: its row and its ticket (None for dropped automatic mail)."""

    row_id: int
    ticket_id: int | None


class Known(NamedTuple):
    """What the database knows of some Message-IDs: stored as, and named by a ticketed message."""

    # Message-ID → its stored row.
    stored: dict[str, StoredMessage]
    # Message-ID → (ticket id, Message-ID) of the first ticketed stored message that names it.
    referencing: dict[str, tuple[int, str]]


def _by_message_ids(ids) -> Select:
    return select(
        literal_column(str(_STORED)).label("found"), _MESSAGE.c.message_id.label("key"), _MESSAGE.c.id,
        _MESSAGE.c.ticket_id, _MESSAGE.c.message_id.label("message_id"),
    ).where(_MESSAGE.c.message_id.in_(ids))


def _referencing(refs) -> Select:
    return (
        select(literal_column(str(_REFERENCING)), _REF.c.ref, _MESSAGE.c.id, _MESSAGE.c.ticket_id,
               _MESSAGE.c.message_id)
        .join(_MESSAGE, _MESSAGE.c.id == _REF.c.message_row_id)
        .where(_REF.c.ref.in_(refs), _MESSAGE.c.ticket_id.is_not(None))
    )


@lru_cache(maxsize=64)
def _known(count: int) -> CompoundSelect:
    # One statement per number of ids, built once and compiled once: an "expanding" IN list is
    # written into the SQL again at every execution, which cost more than the lookup itself.
    ids = [bindparam(f"id_{index}", type_=_MESSAGE.c.message_id.type) for index in range(count)]
    return union_all(_by_message_ids(ids), _referencing(ids)).order_by("found", "id")


def _ids(message_ids: Sequence[str]) -> dict[str, str]:
    return {f"id_{index}": message_id for index, message_id in enumerate(message_ids)}


def select_by_message_ids(message_ids: Sequence[str]) -> Select:
    """Stored messages with one of these Message-IDs (unique index on message.message_id)."""
    return _by_message_ids(list(message_ids))


def select_referencing(refs: Sequence[str]) -> Select:
    """Ticketed messages that name one of `refs` in In-Reply-To/References (index on message_ref.ref)."""
    return _referencing(list(refs)).order_by(_MESSAGE.c.id)


def select_known(message_ids: Sequence[str]) -> CompoundSelect:
    """Both of the above in one statement: stored rows first, each half in row order."""
    return _known(len(message_ids)).params(_ids(message_ids))


def known(message_ids: Sequence[str], *, session: Session) -> Known:
    """Which of `message_ids` are stored, and which are named by a ticketed stored message."""
    found = Known({}, {})
    for half, key, row_id, ticket_id, message_id in run(session, _known(len(message_ids)), _ids(message_ids)):
        if half == _STORED:
            found.stored[key] = StoredMessage(row_id, ticket_id)
        else:
            found.referencing.setdefault(key, (ticket_id, message_id))
    return found
