"""Durable intake and quarantine: raw mail is committed once per content before anything else runs.

A source acknowledges a message (IMAP flag, file counted) only after `accept_raw` (or `accept_many`) returns; the
SMTP listener, whose clients wait for their 250, writes to the spool instead (`mailbridge.intake.spool`)
and the worker moves the spool into the same table with `load_spool`. Idempotence rests on the unique `sha256` column and INSERT … ON CONFLICT DO NOTHING, so
two deliveries of the same bytes racing each other (two threads, two processes, two instances on
PostgreSQL) or a replay after a crash leave exactly one row. A message that fails a later stage
is parked here with the stage and the error, one row per raw message, and can be retried.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Insert, bindparam, update
from sqlalchemy.exc import OperationalError, StatementError
from sqlmodel import col, select

from mailbridge.errors import NotFound, error_line
from mailbridge.intake.spool import Spool, SpoolFileError
from mailbridge.store.db import Database
from mailbridge.store.models import Quarantine, RawAttempt, RawMessage
from mailbridge.store.repo import dialect_insert, mark_raw, prepared_insert, run
from mailbridge.store.types import utcnow

# The messages of a spool load, and of a worker's claim, are held in memory together: at most
# this many bytes of them (always at least one message), so that a burst of large mail cannot
# take the worker's memory (a hundred 25 MB messages would be 2.5 GB, twice).
BATCH_BYTES = 16 * 1024 * 1024


def accept_raw(
    raw: bytes,
    *,
    db: Database,
    source: str,
    received_at: datetime,
    envelope_from: str | None = None,
    envelope_rcpts: Sequence[str] = (),
) -> tuple[RawMessage, bool]:
    """Commit the bytes once; returns the stored row and whether this call created it."""
    values = _raw_values(raw, source, received_at, envelope_from, envelope_rcpts)
    # Urgent: the source answers its sender only after this commit.
    with db.session(urgent=True) as session:
        insert = prepared_insert(session, RawMessage.__table__, ignoring=["sha256"], returning="id")
        raw_id = session.execute(insert, values).scalar_one_or_none()
        if raw_id is None:
            return session.exec(select(RawMessage).where(RawMessage.sha256 == values["sha256"])).one(), False
    # Reading back the row just written would only cost a query: it holds what was written.
    return RawMessage(**{**values, "received_at": received_at.astimezone(UTC)}, id=raw_id), True


def accept_many(raws: Sequence[tuple[bytes, datetime]], *, db: Database, source: str,
                envelope_rcpts: Sequence[str] = ()) -> list[tuple[int, bool]]:
    """Commit many messages' bytes at once: per (raw, received_at), in order, its row id and whether it was created.

    Three statements however many messages (which rows exist, one INSERT of the others, their
    ids) where `accept_raw` each would run one or two: the write lock is held that much less.
    Bytes already stored, or twice in `raws`, give the one row, created by none or by the first.
    Another instance storing the same bytes between the look and the INSERT leaves one row all
    the same (ON CONFLICT DO NOTHING); this call then calls it created too.
    """
    values = [_raw_values(raw, source, received_at, None, envelope_rcpts) for raw, received_at in raws]
    if not values:
        return []
    with db.session(urgent=True) as session:
        stored = _ids_by_digest(session, [row["sha256"] for row in values])
        # In their order (ids follow it, and the worker takes rows by id), each digest once.
        firsts: dict[str, dict] = {}
        for row in values:
            if row["sha256"] not in stored:
                firsts.setdefault(row["sha256"], row)
        fresh = list(firsts.values())
        if fresh:
            session.execute(prepared_insert(session, RawMessage.__table__, ignoring=["sha256"]), fresh)
            stored_now = _ids_by_digest(session, [row["sha256"] for row in fresh])
        else:
            stored_now = {}
    seen: set[str] = set()
    accepted = []
    for row in values:
        digest = row["sha256"]
        accepted.append((stored.get(digest) or stored_now[digest], digest in stored_now and digest not in seen))
        seen.add(digest)
    return accepted


def _ids_by_digest(session, digests: Sequence[str]) -> dict[str, int]:
    statement = select(RawMessage.sha256, RawMessage.id).where(col(RawMessage.sha256).in_(list(set(digests))))
    return dict(session.execute(statement).all())


log = logging.getLogger(__name__)


def load_spool(spool: Spool, db: Database, limit: int = 100) -> int:
    """Move up to `limit` spooled messages, and BATCH_BYTES of them, into raw_message in one transaction; how many.

    The files are removed only after the commit; bytes already stored (a load cut short by a
    crash, the same mail sent twice) are not stored again. When the database refuses the batch
    for something in it (not for being down), each file is tried alone and the ones it still
    refuses are set aside in `bad/`: one odd file must never hold back the files behind it.
    """
    loaded, missed = _read_waiting(spool, limit)
    if missed and not loaded:
        # Another loader took every file this spool had listed: a new listing has what is left.
        loaded, _ = _read_waiting(spool, limit)
    if not loaded:
        return 0
    rows = [_raw_values(item.raw, item.source, item.received_at, item.envelope_from, item.envelope_rcpts)
            for item in loaded]
    try:
        _insert_raw(db, rows)
    except OperationalError:
        raise  # the database is down or busy: every file waits for it, none is to blame
    except StatementError:
        return _load_one_by_one(spool, db, loaded, rows)
    spool.remove([item.path for item in loaded])
    return len(loaded)


def _read_waiting(spool: Spool, limit: int) -> tuple[list, bool]:
    """The next spooled files read, up to `limit` and BATCH_BYTES (odd ones set aside); and whether one was missing."""
    loaded, size, missed = [], 0, False
    for path in spool.waiting(limit):
        if size >= BATCH_BYTES:
            break  # the rest wait for the next load
        try:
            loaded.append(spool.read(path))
        except FileNotFoundError:
            missed = True  # another worker on the same state directory took it first
            continue
        except SpoolFileError as exc:
            spool.set_aside(path, str(exc))
            continue
        size += len(loaded[-1].raw)
    return loaded, missed


def _load_one_by_one(spool: Spool, db: Database, loaded: list, rows: list[dict]) -> int:
    taken = 0
    for item, row in zip(loaded, rows):
        try:
            _insert_raw(db, [row])
        except OperationalError:
            raise
        except StatementError as exc:
            spool.set_aside(item.path, f"the database refused it: {error_line(exc.orig or exc)}")
            continue
        spool.remove([item.path])
        taken += 1
    return taken


def _insert_raw(db: Database, rows: list[dict]) -> None:
    with db.session() as session:
        session.execute(prepared_insert(session, RawMessage.__table__, ignoring=["sha256"]), rows)


def _raw_values(raw: bytes, source: str, received_at: datetime, envelope_from: str | None,
                envelope_rcpts: Sequence[str]) -> dict:
    return {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "content": raw,
        "size": len(raw),
        "source": source[:1000],
        "envelope_from": _printable(envelope_from)[:998] if envelope_from is not None else None,
        "envelope_rcpts": [_printable(rcpt) for rcpt in envelope_rcpts],
        "received_at": received_at,
        "state": "pending",
    }


def _printable(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and no control character belongs in an address; the
    # listener refuses them now, but a spool file written before it did may still carry one.
    return "".join("\ufffd" if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)


def attempts_of(db: Database, raw_ids: Sequence[int]) -> dict[int, int]:
    """How often processing was started on each of these rows (rows never started are absent)."""
    if not raw_ids:
        return {}
    statement = select(RawAttempt.raw_id, RawAttempt.attempts).where(col(RawAttempt.raw_id).in_(list(raw_ids)))
    with db.session() as session:
        return dict(session.exec(statement).all())


def count_attempts(db: Database, raw_ids: Sequence[int], now: datetime | None = None) -> None:
    """Count one more processing attempt on each row, committed before the processing starts."""
    if not raw_ids:
        return
    with db.session() as session:
        count_attempts_in(session, raw_ids, now)


def count_attempts_in(session, raw_ids: Sequence[int], now: datetime | None = None) -> None:
    """`count_attempts` in the caller's transaction, which must be committed before the processing starts."""
    if raw_ids:
        started = now or utcnow()
        rows = [{"raw_id": raw_id, "attempts": 1, "started_at": started} for raw_id in raw_ids]
        run(session, _count_statement(session), rows)


# Built once per database kind and run with each group's rows: building the upsert for every
# group of messages cost more than running it.
_COUNT: dict[str, Insert] = {}


def _count_statement(session) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect not in _COUNT:
        table = RawAttempt.__table__
        insert = prepared_insert(session, table)
        _COUNT[dialect] = insert.on_conflict_do_update(
            index_elements=["raw_id"], set_={"attempts": table.c.attempts + 1, "started_at": insert.excluded.started_at})
    return _COUNT[dialect]


def give_back_attempt(db: Database, raw_id: int) -> None:
    """Uncount an attempt that failed for the database's sake, not the message's (best effort)."""
    give_back_attempts(db, [raw_id])


def give_back_attempts(db: Database, raw_ids: Sequence[int]) -> None:
    """Uncount attempts that were not the messages' doing: never started, or the database failed."""
    table = RawAttempt.__table__
    try:
        with db.session() as session:
            session.execute(update(table).where(table.c.raw_id.in_(list(raw_ids)), table.c.attempts > 0)
                            .values(attempts=table.c.attempts - 1))
    except OperationalError:
        pass  # the database is down: the attempt stays counted, which matters only after MAX_ATTEMPTS


def exhausted_error(attempts: int) -> str:
    return (f"processing was started {attempts} times and never finished: the worker process "
            "died on it (killed for its memory?) or failed each time")


def pending_raw(db: Database, limit: int = 100) -> list[RawMessage]:
    """Accepted messages not yet processed, oldest first (after a crash: the ones to redo); up to `limit` of them
    and BATCH_BYTES of their content, at least one."""
    with db.session() as session:
        pending = (select(RawMessage.id, RawMessage.size).where(RawMessage.state == "pending")
                   .order_by(col(RawMessage.id)).limit(limit))
        ids = _within_bytes(session.execute(pending).all())
        if not ids:
            return []
        statement = select(RawMessage).where(col(RawMessage.id).in_(ids)).order_by(col(RawMessage.id))
        return list(session.exec(statement))


def _within_bytes(sizes: Sequence[tuple[int, int]]) -> list[int]:
    """The ids of the first rows whose sizes add up to BATCH_BYTES (the one that crosses it included)."""
    ids, total = [], 0
    for raw_id, size in sizes:
        if total >= BATCH_BYTES:
            break
        ids.append(raw_id)
        total += size
    return ids


def get_raw(db: Database, raw_id: int) -> RawMessage | None:
    with db.session() as session:
        return session.get(RawMessage, raw_id)


def mark_done(db: Database, raw_id: int) -> None:
    """Mark a raw message processed, for callers that did not store it in their own transaction."""
    with db.session() as session:
        mark_raw(raw_id, "done", session=session)


def mark_all_done(session, raw_ids: Sequence[int]) -> None:
    """Mark processed rows done with one statement, in the transaction that stored their results.

    Only rows still pending: a row the pipeline quarantined stays quarantined.
    """
    if raw_ids:
        run(session, _MARK_DONE, [{"raw_id": raw_id} for raw_id in raw_ids])


_RAW = RawMessage.__table__
_MARK_DONE = (update(_RAW).where(_RAW.c.id == bindparam("raw_id"), _RAW.c.state == "pending")
              .values(state="done"))


def quarantine(db: Database, raw_id: int, stage: str, error: str, now: datetime | None = None) -> Quarantine:
    """Park a raw message that failed `stage`; a later failure updates the same row (attempts + 1)."""
    with db.session() as session:
        return quarantine_in(session, raw_id, stage, error, now or utcnow())


def quarantine_in(session, raw_id: int, stage: str, error: str, now: datetime) -> Quarantine:
    table = Quarantine.__table__
    values = {"raw_id": raw_id, "stage": stage, "error": error, "created_at": now, "updated_at": now}
    again = {"stage": stage, "error": error, "updated_at": now, "state": "held",
             "attempts": table.c.attempts + 1}
    insert = dialect_insert(session, table, {**values, "attempts": 1, "state": "held"})
    session.execute(insert.on_conflict_do_update(index_elements=["raw_id"], set_=again))
    mark_raw(raw_id, "quarantined", session=session)
    return session.exec(select(Quarantine).where(Quarantine.raw_id == raw_id)).one()



def list_quarantine(db: Database, state: str | None = "held") -> list[Quarantine]:
    """Quarantined messages, oldest first; `state=None` lists retried and dropped ones too."""
    statement = select(Quarantine).order_by(col(Quarantine.id))
    if state is not None:
        statement = statement.where(Quarantine.state == state)
    with db.session() as session:
        return list(session.exec(statement))


def get_quarantine(db: Database, quarantine_id: int) -> Quarantine | None:
    with db.session() as session:
        return session.get(Quarantine, quarantine_id)


def mark_retried(db: Database, quarantine_id: int, now: datetime | None = None) -> None:
    """Record that a retry went through; the raw message's own state is set by whoever stored it."""
    _set_state(db, quarantine_id, "retried", now)


def drop(db: Database, quarantine_id: int, now: datetime | None = None) -> None:
    """Give up on a quarantined message; its raw bytes stay stored for inspection."""
    _set_state(db, quarantine_id, "dropped", now)


def _set_state(db: Database, quarantine_id: int, state: str, now: datetime | None) -> None:
    table = Quarantine.__table__
    statement = update(table).where(table.c.id == quarantine_id).values(state=state, updated_at=now or utcnow())
    with db.session() as session:
        if session.execute(statement).rowcount != 1:
            raise NotFound(f"no quarantined message with id {quarantine_id}")
