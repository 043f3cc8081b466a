"""The SMS queue in the database: rows queued in the escalation step's transaction, claimed by lease.

A row goes `queued` → `sent`, or `failed` when the gateway refuses it for good or attempts run
out; a temporary failure keeps it `queued` with a later `next_attempt_at` (1, 2, 4 … minutes,
at most an hour). Claiming pushes `next_attempt_at` one lease ahead in a short transaction (on
PostgreSQL `FOR UPDATE SKIP LOCKED`, so two instances never claim one row); the send happens
outside any transaction, then its result is recorded. The intent is unique: an SMS is queued once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from mailbridge.store.db import Database
from mailbridge.store.models import EscalationStep, Sms, Ticket
from mailbridge.store.repo import insert_ignoring_conflicts

FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt number `attempt` (1, 2, …): 1, 2, 4 … minutes, at most an hour."""
    return min(FIRST_RETRY * 2 ** min(max(attempt - 1, 0), 20), MAX_RETRY)


def enqueue(*, session: Session, intent: str, ticket_id: int | None, step_id: int | None, recipient: str,
            text: str, now: datetime) -> bool:
    """Queue one SMS in the caller's transaction; False when that intent was queued before."""
    values = {"intent": intent[:200], "ticket_id": ticket_id, "step_id": step_id, "recipient": recipient,
              "text": text, "state": "queued", "attempts": 0, "next_attempt_at": now, "created_at": now,
              "sent_at": None, "provider_id": "", "last_error": ""}
    statement = insert_ignoring_conflicts(session, Sms.__table__, values, ["intent"])
    return session.execute(statement).rowcount > 0


def claim(db: Database, now: datetime, *, lease: timedelta, limit: int = 1) -> list[Sms]:
    """Up to `limit` due SMS, oldest first, leased to the caller (the attempt counted), in one transaction."""
    statement = (select(Sms).where(Sms.state == "queued", col(Sms.next_attempt_at) <= now)
                 .order_by(col(Sms.next_attempt_at), col(Sms.id)).limit(limit).with_for_update(skip_locked=True))
    with db.session() as session:
        rows = list(session.exec(statement))
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + lease
            session.add(row)
    return rows


def mark_sent(db: Database, row: Sms, now: datetime, provider_id: str, note: str = "") -> None:
    _set(db, row.id, state="sent", sent_at=now, provider_id=provider_id[:200], last_error=note)


def mark_retry(db: Database, row: Sms, now: datetime, error: str, max_attempts: int) -> bool:
    """A temporary failure: retried after `backoff`, or failed (step too) once attempts run out."""
    if row.attempts >= max_attempts:
        mark_failed(db, row, f"gave up after {row.attempts} attempts: {error}")
        return False
    _set(db, row.id, next_attempt_at=now + backoff(row.attempts), last_error=error)
    return True


def mark_failed(db: Database, row: Sms, error: str) -> None:
    """A permanent failure: the SMS and its step are failed, with the gateway's answer."""
    steps = EscalationStep.__table__
    with db.session() as session:
        session.execute(update(Sms.__table__).where(Sms.__table__.c.id == row.id)
                        .values(state="failed", last_error=error))
        if row.step_id is not None:
            step = session.get(EscalationStep, row.step_id)
            if step is not None:
                session.execute(update(steps).where(steps.c.id == step.id).values(
                    state="failed", detail=[*step.detail, f"sms to {row.recipient} failed: {error}"]))


def release(db: Database, row_ids: list[int], now: datetime) -> int:
    """Put failed SMS back in the queue now, with fresh attempts; how many."""
    table = Sms.__table__
    with db.session() as session:
        return session.execute(update(table).where(table.c.id.in_(row_ids), table.c.state == "failed")
                               .values(state="queued", attempts=0, next_attempt_at=now)).rowcount


def _set(db: Database, row_id: int, **values: object) -> None:
    table = Sms.__table__
    with db.session() as session:
        session.execute(update(table).where(table.c.id == row_id).values(**values))


def labels(db: Database, row: Sms) -> tuple[str, str]:
    """The ticket code and step (`critical#1`) of an SMS, as providers label it."""
    with db.session() as session:
        ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
        step = session.get(EscalationStep, row.step_id) if row.step_id else None
        return (ticket.code if ticket else "", f"{step.ladder}#{step.step + 1}" if step else "")
