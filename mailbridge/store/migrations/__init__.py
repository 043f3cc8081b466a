"""Alembic migrations of the mailbridge schema, run programmatically by `mailbridge.store.db`."""
