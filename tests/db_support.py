"""Database helpers shared by tests that push many messages through the pipeline."""

from __future__ import annotations

from sqlalchemy import event

from mailbridge.store.db import Database


def without_fsync(db: Database) -> None:
    """Skip the flush to disk at each commit, for tests about outcomes rather than durability.

    Two durable commits per message would make a thousand messages take a quarter of a minute.
    """

    def relax(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF" if db.dialect == "sqlite" else "SET synchronous_commit TO off")
        cursor.close()

    event.listen(db.engine, "connect", relax)
    db.engine.dispose()
