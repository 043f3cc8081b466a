"""Alembic environment: runs migrations on the connection that `mailbridge.store.db` hands over."""

from alembic import context
from sqlmodel import SQLModel

import mailbridge.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
import mailbridge.store.imap_state  # noqa: F401  (the IMAP poller's table)
import mailbridge.store.heartbeat  # noqa: F401  (the instances' heartbeats)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    # The caller already holds a transaction and the migration lock (`store.db`).
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("mailbridge migrations run through mailbridge.store.db, not the alembic CLI")
_run(connection)
