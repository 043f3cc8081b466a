"""`check-config --connect`: try what the config points at — the database, the relay, each IMAP login.

Each check is one `Reach` (what was tried, whether it worked, one line saying what was found or
why not); nothing is changed anywhere: the database is only connected to and its schema
revision read, the relay gets EHLO, STARTTLS and AUTH and a QUIT, mailboxes are logged in to
and their folder opened read-only (as `imap check` does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.engine import make_url

from mailbridge.config import Config
from mailbridge.errors import MailbridgeError
from mailbridge.outgoing.transport import DeliveryError, transport_for
from mailbridge.store import db as store_db


@dataclass(frozen=True)
class Reach:
    target: str
    ok: bool
    detail: str


def reach_all(config: Config, today: date) -> list[Reach]:
    """The database, the relay (or the Maildir) and every IMAP account, in that order."""
    return [reach_database(config), reach_outbox(config), *reach_imap(config, today)]


def reach_database(config: Config) -> Reach:
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return _sqlite_to_be(Path(url.database))
    db = None
    try:
        db = store_db.connect(config.database_url)
        current, head = store_db.current_revision(db), store_db.head_revision()
    except MailbridgeError as exc:
        return Reach("database", False, str(exc))
    finally:
        if db is not None:
            db.dispose()
    if current == head:
        return Reach("database", True, f"reachable, schema at {head}")
    if current is None:
        return Reach("database", True, "reachable, empty: `mailbridge db upgrade` (or the first `serve`) creates it")
    return Reach("database", False, f"reachable, schema at {current}, this mailbridge needs {head}: "
                                    "run `mailbridge db upgrade`")


def _sqlite_to_be(path: Path) -> Reach:
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        return Reach("database", False, f"{path} does not exist and {parent} cannot be written by this user")
    return Reach("database", True, f"{path} does not exist yet: `mailbridge db upgrade` (or the first `serve`) "
                                   "creates it")


def reach_outbox(config: Config) -> Reach:
    if not config.outbox.relay_host:
        folder = config.outbox_maildir
        parent = next((p for p in (folder, *folder.parents) if p.exists()), None)
        writable = parent is not None and os.access(parent, os.W_OK)
        return Reach("outbox", writable, f"no relay: Maildir {folder} "
                                         f"{'can be written' if writable else 'cannot be written by this user'}")
    try:
        return Reach("relay", True, transport_for(config).probe())
    except DeliveryError as exc:
        return Reach("relay", False, str(exc))


def reach_imap(config: Config, today: date) -> list[Reach]:
    if not config.imap:
        return []
    from mailbridge.sources.imap_check import check_accounts, config_tokens

    return [Reach(f"imap {r.account.name}", not r.problems, "; ".join(r.problems) or "logged in, " + r.lines[-1].strip())
            for r in check_accounts(config.imap, today, config_tokens(config))]
