"""The values of the tables' status and kind columns, importable without SQLAlchemy (for the CLI's options)."""

TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
MESSAGE_KINDS = ("customer", "agent", "note", "automatic", "system")
RAW_STATES = ("pending", "done", "quarantined")
QUARANTINE_STATES = ("held", "retried", "dropped")
