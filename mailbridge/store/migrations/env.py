"""Alembic environment: runs migrations on the connection that `mailbridge.store.db` hands over."""

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import mailbridge.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

# Two instances starting at once on an empty PostgreSQL database would both try to create the
# tables; a transaction-scoped advisory lock makes the second wait and then find nothing to do.
# SQLite needs no lock: its transactions begin IMMEDIATE, which already serialises writers.
_MIGRATION_LOCK_KEY = 0x6D61696C  # "mail"


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("mailbridge migrations run through mailbridge.store.db, not the alembic CLI")
_run(connection)
