"""Per-mailbox IMAP state: the UIDVALIDITY seen, the last UID taken, and the backlog boundary.

One row per (account, folder). `last_uid` only moves forward, and only after the messages up to
it are stored and marked in the mailbox, so after a crash the poller starts from a UID it may
have taken already (stored once by intake) and never from one past a message it has not.
`backlog_uid` is the highest UID that was in the folder when mailbridge first looked at it (or
when a UIDVALIDITY change made it look again): messages up to it are the backlog, which the
account's `backlog` rule filters. Storage only: the poller decides what these numbers mean.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, update
from sqlmodel import Field, SQLModel, select

import mailbridge.store.models  # noqa: F401  (sets the naming convention constraint names follow)
from mailbridge.store.db import Database
from mailbridge.store.repo import insert_ignoring_conflicts
from mailbridge.store.types import UTCDateTime


def _when(*, nullable: bool = False):
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class ImapMailbox(SQLModel, table=True):
    """Where the poller of one account's folder has got to."""

    __tablename__ = "imap_mailbox"

    account: str = Field(primary_key=True, max_length=64)
    folder: str = Field(primary_key=True, max_length=1000)
    # UIDs and UIDVALIDITY are unsigned 32-bit numbers: too big for a signed INTEGER.
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    backlog_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    first_seen_at: datetime = _when()
    rescanned_at: datetime | None = _when(nullable=True)
    updated_at: datetime = _when()


def get_mailbox(account: str, folder: str, *, db: Database) -> ImapMailbox | None:
    with db.session() as session:
        return session.get(ImapMailbox, (account, folder))


def start_mailbox(account: str, folder: str, *, uidvalidity: int, backlog_uid: int, now: datetime,
                  db: Database) -> ImapMailbox:
    """The mailbox's row, created on the first look; an existing row (another instance) is kept."""
    values = {"account": account, "folder": folder, "uidvalidity": uidvalidity, "last_uid": 0,
              "backlog_uid": backlog_uid, "first_seen_at": now, "updated_at": now}
    with db.session() as session:
        table = ImapMailbox.__table__
        session.execute(insert_ignoring_conflicts(session, table, values, ["account", "folder"]))
        return session.get(ImapMailbox, (account, folder))


def rescan_mailbox(account: str, folder: str, *, uidvalidity: int, backlog_uid: int, now: datetime,
                   db: Database) -> ImapMailbox:
    """After a UIDVALIDITY change: the old UIDs mean nothing, so start again from UID 1."""
    table = ImapMailbox.__table__
    statement = (update(table)
                 .where(table.c.account == account, table.c.folder == folder)
                 .values(uidvalidity=uidvalidity, last_uid=0, backlog_uid=backlog_uid,
                         rescanned_at=now, updated_at=now))
    with db.session() as session:
        session.execute(statement)
        return session.get(ImapMailbox, (account, folder))


def advance(account: str, folder: str, *, uidvalidity: int, uid: int, now: datetime, db: Database) -> None:
    """Record that every message up to `uid` is stored and marked (never moves backwards).

    The UIDVALIDITY in the condition keeps a poller that has not yet seen a change from writing
    an old UID over the rescan's fresh start.
    """
    table = ImapMailbox.__table__
    statement = (update(table)
                 .where(table.c.account == account, table.c.folder == folder,
                        table.c.uidvalidity == uidvalidity, table.c.last_uid < uid)
                 .values(last_uid=uid, updated_at=now))
    with db.session() as session:
        session.execute(statement)


def list_mailboxes(*, db: Database) -> list[ImapMailbox]:
    with db.session() as session:
        return list(session.exec(select(ImapMailbox).order_by(ImapMailbox.account, ImapMailbox.folder)))
