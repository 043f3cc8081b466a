"""After an import of old mail: leave its tickets as configured (`[import]`), without mailing anyone.

`mailbridge ingest --import` stores history with each message's own receipt time as "now" and
queues no mail (see `pipeline.process`). Tickets whose last message is older than
`[import] close_after_days` are then set to `[import] status` (closed by default) as of a second
after their last message: they were answered outside mailbridge, and left open they would show
as overdue and warn agents of long-past deadlines. Younger tickets stay as live mail left them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from mailbridge.config.models import Config
from mailbridge.sla import clocks
from mailbridge.store import repo
from mailbridge.store.db import Database

# Imported sources are marked so, whoever processes them (ingest, the worker, a quarantine retry).
IMPORT_SOURCE = "import:"
_OPEN = frozenset({"new", "open", "pending"})
# Codes settled per transaction.
_BATCH = 200


def is_import(source: str) -> bool:
    return source.startswith(IMPORT_SOURCE)


def settle(codes: Iterable[str], *, db: Database, config: Config, now: datetime) -> int:
    """Set the imported tickets idle for `close_after_days` to the configured status; how many were."""
    if config.import_.status == "open":
        return 0
    cutoff = now - timedelta(days=config.import_.close_after_days)
    pending = sorted(set(codes))
    settled = 0
    for start in range(0, len(pending), _BATCH):
        with db.session() as session:
            for code in pending[start:start + _BATCH]:
                ticket = repo.ticket_by_code(code, session=session)
                if ticket is None or ticket.status not in _OPEN or ticket.updated_at > cutoff:
                    continue
                # A second after the last message: an instant of its own, which the event log
                # records as the change (an unchanged time would read as the ticket's creation).
                at = ticket.updated_at + timedelta(seconds=1)
                ticket.status = config.import_.status
                ticket.updated_at = at
                if ticket.status == "closed":
                    ticket.closed_at = at
                else:
                    ticket.resolved_at = at
                session.add(ticket)
                session.flush()
                clocks.refresh(ticket, session=session, config=config, now=now)
                settled += 1
    return settled
