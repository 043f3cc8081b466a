"""The outbox: mail queued in the caller's transaction, claimed for delivery, and its bookkeeping.

A row goes `queued` → `sent`; a temporary failure keeps it `queued` with a later
`next_attempt_at` (`backoff`), a permanent one (5xx, or `max_attempts` used up) makes it
`failed`; loop protection may queue it `held`; a DSN about it marks it `bounced`; an operator
may `drop` it or `release` it (back to `queued`).

Claiming pushes `next_attempt_at` one lease ahead in a short transaction and names the claiming
instance in `claimed_by` (on PostgreSQL the row is picked `FOR UPDATE SKIP LOCKED`, so two
instances never claim the same row); the send happens outside any transaction, and each mail is
recorded as sent as soon as the relay has answered. A crash between the relay's 250 and that
record is the one window in which a mail can go out twice: at most the one mail in hand per
crash. A restarted instance takes its own leases back at once (`resume`); another instance
waits for the lease to run out. The Message-ID was fixed at queue time, so a copy is the same
mail to every receiving system, and the Maildir transport recognises it and writes it once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Insert,
    Select,
    Update,
    bindparam,
    func,
    literal,
    literal_column,
    null,
    union_all,
    update,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from mailbridge.store.db import Database
from mailbridge.store.models import AddressHealth, Outbox, OutboxContent
from mailbridge.store.repo import dialect_insert, new_row, prepared_insert, run

# How long a claimed mail is left to its sender before another worker may try it again: long
# enough for a claimed batch at the relay's slowest (5 mails, 30 s timeout per step).
LEASE = timedelta(minutes=3)
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)
# Automatic mail that counts towards the rate limit: everything we meant to send.
_COUNTED_STATES = ("queued", "sent", "failed", "bounced")
RELEASABLE_STATES = ("held", "failed", "bounced")

# The statements of every processed mail are built once, with bound parameters: executing the
# same construct again reuses its compiled SQL, and building one per mail cost more than running it.
_OUTBOX = Outbox.__table__
_CONTENT = OutboxContent.__table__
_HEALTH = AddressHealth.__table__
# What the database knows of some recipients: (address, undeliverable_until, 0) for each one a
# bounce marked, and (address, NULL, count) of the recent automatic mail to each rate-limited one
# (held mail is not counted: it was not sent). One statement per number of addresses, built and
# compiled once, with each address (and state) bound on its own: an "expanding" IN list is
# written into the SQL text again at every execution, and every processed mail runs this.
@lru_cache(maxsize=64)
def _states_statement(everyone: int, counted: int) -> CompoundSelect | Select:
    untils = select(_HEALTH.c.address, _HEALTH.c.undeliverable_until, literal_column("0")).where(
        _HEALTH.c.address.in_(_numbered("everyone", everyone, _HEALTH.c.address.type)))
    if not counted:
        return untils
    recent = select(_OUTBOX.c.recipient, null(), func.count()).where(
        _OUTBOX.c.recipient.in_(_numbered("counted", counted, _OUTBOX.c.recipient.type)),
        _OUTBOX.c.automatic.is_(True), _OUTBOX.c.created_at >= bindparam("since"),
        _OUTBOX.c.state.in_([literal(state) for state in _COUNTED_STATES]),
    ).group_by(_OUTBOX.c.recipient)
    return union_all(untils, recent)


def _numbered(name: str, count: int, type_) -> list[BindParameter]:
    return [bindparam(f"{name}_{index}", type_=type_) for index in range(count)]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The key in `Session.info` of the mail waiting for the end of a `deferred` block, by intent.
_DEFERRED = "mailbridge_outbox_deferred"
# The sending side's statements, for the same reason: the sender runs them for every mail.
_CLAIM: dict[str, Update] = {}
_STORE_CONTENT: dict[str, Insert] = {}
_MAIL = select(_CONTENT.c.content).where(_CONTENT.c.outbox_id == _OUTBOX.c.id).scalar_subquery()
_MARK_SENT = (update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
              .values(state="sent", sent_at=bindparam("now"), last_error=""))


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt number `attempt` (1, 2, …): 1, 2, 4 … minutes, at most an hour."""
    if attempt < 1:
        return timedelta(0)
    return min(FIRST_RETRY * 2 ** min(attempt - 1, 20), MAX_RETRY)


def outbox_row(*, intent: str, kind: str, ticket_id: int | None, message_id: str, mail_from: str, recipient: str,
               content: bytes, automatic: bool, now: datetime, state: str = "queued", note: str = "") -> dict:
    """The values of one outbox row, for `enqueue_all`."""
    return {
        "intent": intent[:200], "kind": kind, "ticket_id": ticket_id, "message_id": message_id,
        "mail_from": mail_from, "recipient": recipient.lower()[:320], "content": content,
        "automatic": automatic, "state": state, "attempts": 0, "next_attempt_at": now,
        "created_at": now, "sent_at": None, "last_error": note,
    }


def enqueue_all(rows: Sequence[dict], *, session: Session, defer: bool = False) -> int:
    """Queue mails (`outbox_row`s) in the caller's transaction, one INSERT per table; how many were new.

    An intent queued before is skipped (ON CONFLICT DO NOTHING), so each is queued once; its
    mail is then skipped too (the row queued before has its own). `defer`: inside `deferred`,
    the rows wait for the end of its block (an intent already waiting is skipped likewise);
    mail queued without it goes after what is waiting, so the ids keep the order of queuing.
    """
    waiting = session.info.get(_DEFERRED)
    if waiting is not None:
        if defer:
            new = 0
            for row in rows:
                if row["intent"] not in waiting:
                    waiting[row["intent"]] = row
                    new += 1
            return new
        insert_waiting(session)
    return _insert(rows, session) if rows else 0


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """Within the block, mail queued with `defer` is inserted at its end, all in one INSERT per table.

    For the worker's group transaction: the acknowledgement and notices of each message cost two
    statements, a fifth of what storing it ran, and a group's now cost two in all.
    What reads the outbox in the meantime sees the waiting mail as if it were inserted
    (`recipient_states` counts it; `mark_bounced` inserts it first). When the block raises,
    the waiting mail is dropped with the transaction it belonged to.
    """
    session.info[_DEFERRED] = {}
    try:
        yield
        insert_waiting(session)
    finally:
        session.info.pop(_DEFERRED, None)


def insert_waiting(session: Session) -> None:
    """Insert now the mail waiting in a `deferred` block (the block's end finds none left)."""
    waiting = session.info.get(_DEFERRED)
    if waiting:
        rows = list(waiting.values())
        waiting.clear()
        _insert(rows, session)


def _insert(rows: Sequence[dict], session: Session) -> int:
    dialect = session.get_bind().dialect.name
    states = [{name: value for name, value in row.items() if name != "content"} for row in rows]
    # `run`: these Core statements need nothing of the ORM's execute (no flush, no loading),
    # whose layer was a sixth of each statement's cost.
    if dialect == "sqlite":
        # sqlite3 sums an executemany's changes into its rowcount, and a skipped row changes
        # nothing: the count without RETURNING, which cost a third of the statement's time.
        # (PostgreSQL's driver gives no rowcount here: it needs the rows returned.)
        new = run(session, prepared_insert(session, _OUTBOX, ignoring=["intent"]), states).rowcount
    else:
        new = len(run(session, prepared_insert(session, _OUTBOX, ignoring=["intent"], returning="intent"),
                      states).all())
    run(session, _store_content(session), [{"intent": row["intent"], "content": row["content"]} for row in rows])
    return new


def _store_content(session: Session):
    """The INSERT of the mails, each found by its intent (no ids needed back from the first INSERT).

    A skipped duplicate finds the row queued before, which has its mail: DO NOTHING again.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in _STORE_CONTENT:
        # (SQLite needs the WHERE: without one it would read ON CONFLICT as a join's ON.)
        mails = select(_OUTBOX.c.id, bindparam("content", type_=_CONTENT.c.content.type)).where(
            _OUTBOX.c.intent == bindparam("intent"))
        statement = prepared_insert(session, _CONTENT, ignoring=["outbox_id"])
        _STORE_CONTENT[dialect] = statement.from_select(["outbox_id", "content"], mails)
    return _STORE_CONTENT[dialect]


def recipient_states(recipients: Sequence[str], *, counted: Sequence[str], session: Session,
                     since: datetime | None) -> dict[str, tuple[int, datetime | None]]:
    """Per recipient (lowercased), in one statement: automatic mails queued to it since `since`, and until when
    a bounce marked it undeliverable; the mails are counted only for the addresses in `counted`."""
    everyone = sorted({address.lower() for address in recipients})
    states: dict[str, tuple[int, datetime | None]] = {address: (0, None) for address in everyone}
    if not everyone:
        return states
    limited = sorted({a.lower() for a in counted} if since else set())
    values = {"since": since or _EPOCH, **{f"everyone_{i}": a for i, a in enumerate(everyone)},
              **{f"counted_{i}": a for i, a in enumerate(limited)}}
    # `run`, as in `enqueue_all` (a Core SELECT is not flushed for either way).
    for address, until, recent in run(session, _states_statement(len(everyone), len(limited)), values):
        before = states[address]
        states[address] = (before[0] + recent, before[1] or until)
    # Mail waiting in `deferred` counts as the statement would count it once inserted.
    for row in session.info.get(_DEFERRED, {}).values():
        if row["recipient"] in limited and _counted(row, since):
            recent, until = states[row["recipient"]]
            states[row["recipient"]] = (recent + 1, until)
    return states


def _counted(row: dict, since: datetime) -> bool:
    """Whether `_states_statement` counts this outbox row (its values) towards the rate limit."""
    # Only asked for the addresses in `limited`, which is empty without a `since`.
    return bool(row["automatic"]) and row["state"] in _COUNTED_STATES and row["created_at"] >= since


def claim(db: Database, now: datetime, limit: int = 1, owner: str = "") -> list[Outbox]:
    """Up to `limit` due mails, oldest first, leased to `owner` (attempts counted), in one transaction.

    One UPDATE … RETURNING, not ORM objects loaded, changed and flushed: the sender claims
    every mail, and the ORM's round cost more than sending it to a Maildir.
    """
    values = {"now": now, "limit": limit, "lease_until": now + LEASE, "owner": owner[:200] or None}
    with db.session() as session:
        found = session.execute(_claim_statement(session), values).mappings().all()
    rows = []
    for claimed in found:
        row = new_row(Outbox, **{name: value for name, value in claimed.items() if name != "content"})
        # `content` is no field of the model (see models.py): set as the loaded value it is.
        set_committed_value(row, "content", claimed["content"])
        rows.append(row)
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.id))


def _claim_statement(session: Session) -> Update:
    """`claim`'s statement for the session's database, built once.

    It returns each row's mail too (a subquery of `outbox_content`, which the claim leaves as it is).

    The due rows are picked in a subquery `FOR UPDATE SKIP LOCKED` (two PostgreSQL instances
    never pick the same row; SQLite has one writer at a time and ignores the clause). On
    PostgreSQL the pick is a CTE, which is evaluated exactly once, so the LIMIT holds whatever
    plan the UPDATE gets.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in _CLAIM:
        due = (select(_OUTBOX.c.id)
               .where(_OUTBOX.c.state == "queued", _OUTBOX.c.next_attempt_at <= bindparam("now"))
               .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
               .limit(bindparam("limit"))
               .with_for_update(skip_locked=True))
        statement = update(_OUTBOX)
        if dialect == "postgresql":
            picked = due.cte("due")
            statement = statement.where(_OUTBOX.c.id == picked.c.id)
        else:
            statement = statement.where(_OUTBOX.c.id.in_(due.scalar_subquery()))
        _CLAIM[dialect] = (statement.values(attempts=_OUTBOX.c.attempts + 1, next_attempt_at=bindparam("lease_until"),
                                            claimed_by=bindparam("owner"))
                           .returning(*_OUTBOX.c, _MAIL.label("content")))
    return _CLAIM[dialect]


def resume(db: Database, owner: str, now: datetime) -> int:
    """Take back the leases `owner` held when it stopped (it crashed): due now, the attempt uncounted."""
    table = Outbox.__table__
    statement = (update(table).where(table.c.state == "queued", table.c.claimed_by == owner[:200],
                                     table.c.next_attempt_at > now)
                 .values(next_attempt_at=now, attempts=table.c.attempts - 1))
    with db.session() as session:
        return session.execute(statement).rowcount


def mark_sent(db: Database, row_ids: Sequence[int], now: datetime) -> None:
    """Record mails as sent, all in one transaction."""
    if not row_ids:
        return
    with db.session() as session:
        session.execute(_MARK_SENT, {"ids": list(row_ids), "now": now})


def give_back(db: Database, row_ids: Sequence[int], now: datetime) -> None:
    """Give back claimed mails that were not tried (a stop came first): due now, the attempt uncounted."""
    _set_all(db, row_ids, next_attempt_at=now, attempts=Outbox.__table__.c.attempts - 1)


def mark_retry(db: Database, row: Outbox, now: datetime, error: str, max_attempts: int) -> bool:
    """Record a temporary failure: retried after `backoff`, or failed once attempts run out."""
    if row.attempts >= max_attempts:
        _set(db, row.id, state="failed", last_error=f"gave up after {row.attempts} attempts: {error}")
        return False
    _set(db, row.id, next_attempt_at=now + backoff(row.attempts), last_error=error)
    return True


def mark_failed(db: Database, row_id: int, error: str) -> None:
    _set(db, row_id, state="failed", last_error=error)


def mark_bounced(message_id: str, status: str, *, session: Session) -> bool:
    """A DSN returned this mail of ours: record it on its outbox row, if it is one."""
    insert_waiting(session)
    table = Outbox.__table__
    statement = (update(table).where(table.c.message_id == message_id.strip("<> "))
                 .values(state="bounced", last_error=f"bounced: {status}"))
    return session.execute(statement).rowcount > 0


def release(db: Database, row_ids: Sequence[int], now: datetime) -> int:
    """Put held, failed or bounced mail back in the queue now, with fresh attempts; how many."""
    if not row_ids:
        return 0
    table = Outbox.__table__
    statement = (update(table).where(table.c.id.in_(list(row_ids)), table.c.state.in_(RELEASABLE_STATES))
                 .values(state="queued", attempts=0, next_attempt_at=now))
    with db.session() as session:
        return session.execute(statement).rowcount


def drop(db: Database, row_id: int) -> bool:
    """Give up on a mail that is not sent; False when it is sent, dropped or unknown."""
    table = Outbox.__table__
    statement = (update(table).where(table.c.id == row_id, table.c.state.not_in(("sent", "dropped")))
                 .values(state="dropped"))
    with db.session() as session:
        return session.execute(statement).rowcount > 0


def list_outbox(db: Database, *, state: str | None = None, limit: int = 200) -> list[Outbox]:
    """Outbox rows, newest first, optionally in one state."""
    statement = select(Outbox)
    if state is not None:
        statement = statement.where(Outbox.state == state)
    statement = statement.order_by(col(Outbox.id).desc()).limit(limit)
    with db.session() as session:
        return list(session.exec(statement))


def get(db: Database, row_id: int) -> Outbox | None:
    with db.session() as session:
        return session.get(Outbox, row_id)


def _set(db: Database, row_id: int, **values: object) -> None:
    _set_all(db, [row_id], **values)


def _set_all(db: Database, row_ids: Sequence[int], **values: object) -> None:
    if not row_ids:
        return
    table = Outbox.__table__
    with db.session() as session:
        session.execute(update(table).where(table.c.id.in_(list(row_ids))).values(**values))


def mark_undeliverable(address: str, *, session: Session, until: datetime, status: str, now: datetime) -> None:
    """Remember that a bounce said `address` cannot receive mail, until `until`."""
    table = AddressHealth.__table__
    values = {"address": address.lower()[:320], "undeliverable_until": until, "last_status": status[:16],
              "last_bounce_at": now, "bounces": 1}
    statement = dialect_insert(session, table, values).on_conflict_do_update(
        index_elements=["address"],
        set_={"undeliverable_until": until, "last_status": status[:16], "last_bounce_at": now,
              "bounces": table.c.bounces + 1},
    )
    session.execute(statement)


def sent_for_ticket(ticket_id: int, *, session: Session) -> list[Outbox]:
    """Every mail queued for a ticket, in any state, oldest first (for `tickets show`)."""
    statement = (select(Outbox).where(Outbox.ticket_id == ticket_id)
                 .order_by(col(Outbox.created_at), col(Outbox.id)))
    return list(session.exec(statement))
