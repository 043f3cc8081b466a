"""Instance heartbeats: one row per running `serve`, refreshed every few seconds, read by `mailbridge status`.

The row lives in the shared database, so `status` run on any host that reaches it (several
instances on one PostgreSQL) sees every instance. `state` is the daemon's own report of its
parts (listener, IMAP accounts, processing worker, spool backlog, last tick) as JSON; an
instance that stops cleanly stamps `stopped_at`, one that died simply stops beating.
Storage only: the service decides what goes in `state`, the status reader what it means.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import JSON, Column, delete, update
from sqlmodel import Field, SQLModel, col, select

import mailbridge.store.models  # noqa: F401  (sets the naming convention constraint names follow)
from mailbridge.store.db import Database
from mailbridge.store.repo import insert_ignoring_conflicts
from mailbridge.store.types import UTCDateTime

# Rows of instances stopped (or silent) for longer than this are removed by the next start.
FORGET_AFTER = timedelta(days=7)


def _when(*, nullable: bool = False):
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Heartbeat(SQLModel, table=True):
    """The latest word of one `serve` process."""

    __tablename__ = "heartbeat"

    instance: str = Field(primary_key=True, max_length=200)
    host: str = Field(max_length=255)
    pid: int
    version: str = Field(max_length=64)
    started_at: datetime = _when()
    beat_at: datetime = _when()
    stopped_at: datetime | None = _when(nullable=True)
    state: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def register(db: Database, row: Heartbeat) -> None:
    """Write an instance's first row, and forget instances long gone."""
    with db.session() as session:
        session.execute(delete(Heartbeat).where(col(Heartbeat.beat_at) < row.started_at - FORGET_AFTER))
        session.execute(insert_ignoring_conflicts(session, Heartbeat.__table__, row.model_dump(), ["instance"]))


def beat(db: Database, instance: str, *, now: datetime, state: dict) -> None:
    """Refresh an instance's row with its current state."""
    with db.session() as session:
        session.execute(update(Heartbeat).where(col(Heartbeat.instance) == instance)
                        .values(beat_at=now, state=state))


def stopped(db: Database, instance: str, *, now: datetime, state: dict) -> None:
    """Mark an instance stopped cleanly."""
    with db.session() as session:
        session.execute(update(Heartbeat).where(col(Heartbeat.instance) == instance)
                        .values(beat_at=now, stopped_at=now, state=state))


def instances(db: Database) -> list[Heartbeat]:
    """Every known instance, the most recently started first."""
    with db.session() as session:
        statement = select(Heartbeat).order_by(col(Heartbeat.started_at).desc())
        return list(session.exec(statement))
