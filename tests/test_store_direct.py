"""Statements run on SQLite's own cursor (`store.direct`) behave as SQLAlchemy runs them, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, event, exc, select, update
from sqlmodel import func

from mailbridge.intake import durable
from mailbridge.store import direct, repo
from mailbridge.store.models import Attachment, Blob, Message, RawMessage, Ticket

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
WARSAW = timezone(timedelta(hours=2))
_TICKET = Ticket.__table__
_MESSAGE = Message.__table__


def _ticket(session, now=NOW):
    return repo.create_ticket(session=session, queue="dynamics", code_prefix="DYN", requester="ana@cliente.es",
                              requester_name="Ana", subject="Factura", received_at=now, now=now)


def _message(session, ticket_id: int, message_id: str, **values) -> Message:
    row = repo.new_row(Message, ticket_id=ticket_id, message_id=message_id, direction="in", kind="customer",
                       received_at=NOW, **values)
    return repo.insert_row(row, session=session)


def test_rows_come_back_typed_as_the_orm_reads_them(database):
    with database.session() as session:
        ticket = _ticket(session, now=datetime(2026, 3, 29, 2, 30, tzinfo=WARSAW))
        message = _message(session, ticket.id, "a@x", recipients=["soporte@dyn.es"], html=None)
        repo.store_attachments(message.id, [_attachment()], session=session)
    statement = (select(_TICKET.c.created_at, _TICKET.c.resolved_at, _MESSAGE.c.recipients, _MESSAGE.c.html,
                        Attachment.__table__.c.inline)
                 .join(_MESSAGE, _MESSAGE.c.ticket_id == _TICKET.c.id)
                 .join(Attachment.__table__, Attachment.__table__.c.message_row_id == _MESSAGE.c.id)
                 .where(_TICKET.c.id == bindparam("ticket_id")))
    with database.session() as session:
        ran = repo.run(session, statement, {"ticket_id": ticket.id}).all()
        orm = [tuple(row) for row in session.execute(statement, {"ticket_id": ticket.id})]
    assert [tuple(row) for row in ran] == orm == [(NOW, None, ["soporte@dyn.es"], None, True)]
    assert ran[0][0].tzinfo is UTC


def test_sqlite_runs_the_statement_on_its_own_cursor_and_postgresql_through_sqlalchemy(database):
    with database.session() as session:
        result = repo.run(session, select(func.count()).select_from(_TICKET), {})
        assert result.scalar_one() == 0
    assert isinstance(result, direct.Rows) == (database.dialect == "sqlite")


def test_a_statement_run_directly_is_rolled_back_with_its_transaction(database):
    with pytest.raises(RuntimeError), database.session() as session:
        _message(session, _ticket(session).id, "gone@x")
        raise RuntimeError("the group fails")
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(_MESSAGE)) == 0
        assert session.scalar(select(func.count()).select_from(_TICKET)) == 0


def test_a_refused_row_raises_sqlalchemys_integrity_error(database):
    with database.session() as session:
        ticket_id = _ticket(session).id
        _message(session, ticket_id, "twice@x")
    with pytest.raises(exc.IntegrityError) as refused, database.session() as session:
        _message(session, ticket_id, "twice@x")
    assert repo.is_duplicate_message_error(refused.value)


def test_batches_and_values_written_into_the_statement(database):
    with database.session() as session:
        ids = [durable.accept_raw(b"Subject: %d\r\n\r\nx\r\n" % n, db=database, source="test",
                                  received_at=NOW)[0].id for n in range(3)]
    durable.count_attempts(database, ids[:2], NOW)
    durable.count_attempts(database, ids, NOW)  # ON CONFLICT … attempts + 1
    with database.session() as session:
        session.execute(update(RawMessage).where(RawMessage.id == ids[0]).values(state="quarantined"))
    with database.session() as session:
        durable.mark_all_done(session, ids)  # only rows still pending (a value fixed in the statement)
    with database.session() as session:
        states = dict(session.execute(select(RawMessage.id, RawMessage.state)).all())
    assert durable.attempts_of(database, ids) == {ids[0]: 2, ids[1]: 2, ids[2]: 1}
    assert states == {ids[0]: "quarantined", ids[1]: "done", ids[2]: "done"}


def test_one_row_expected_and_none_or_many_found(database):
    with database.session() as session:
        _ticket(session)
        _ticket(session)
        codes = select(_TICKET.c.code).order_by(_TICKET.c.code)
        with pytest.raises(exc.MultipleResultsFound):
            repo.run(session, codes, {}).scalar_one()
        with pytest.raises(exc.MultipleResultsFound):
            repo.run(session, codes, {}).scalar_one_or_none()
        nothing = codes.where(_TICKET.c.code == "SOP-000001")
        with pytest.raises(exc.NoResultFound):
            repo.run(session, nothing, {}).scalar_one()
        assert repo.run(session, nothing, {}).scalar_one_or_none() is None
        assert repo.run(session, nothing, {}).first() is None
        assert [code for (code,) in repo.run(session, codes, {})] == ["DYN-000001", "DYN-000002"]


def test_a_missing_value_is_refused_not_stored_as_null(database):
    statement = update(_TICKET).where(_TICKET.c.id == bindparam("ticket_id")).values(subject=bindparam("subject"))
    with pytest.raises(exc.SQLAlchemyError, match="value is required for bind parameter 'subject'"), \
            database.session() as session:
        repo.run(session, statement, {"ticket_id": _ticket(session).id})


def test_a_batch_row_without_a_value_the_first_row_had_is_refused_too(database):
    statement = update(_TICKET).where(_TICKET.c.id == bindparam("ticket_id")).values(subject=bindparam("subject"))
    with database.session() as session:
        ids = [_ticket(session).id, _ticket(session).id]
    with pytest.raises(exc.SQLAlchemyError, match="value is required for bind parameter 'subject'"), \
            database.session() as session:
        repo.run(session, statement, [{"ticket_id": ids[0], "subject": "Uno"}, {"ticket_id": ids[1]}])
    with database.session() as session:
        repo.run(session, statement, [{"ticket_id": ids[0], "subject": "Uno"},
                                      {"ticket_id": ids[1], "subject": "Dos"}])
        subjects = repo.run(session, select(_TICKET.c.subject).order_by(_TICKET.c.id), {}).all()
    assert [subject for (subject,) in subjects] == ["Uno", "Dos"]


def test_cursor_listeners_still_see_every_statement(database):
    seen = []

    def record(_connection, _cursor, statement, *_rest) -> None:
        seen.append(statement.split()[0])

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        with database.session() as session:
            _message(session, _ticket(session).id, "seen@x")
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    # The code counter's first row, the counter, the ticket, its requester, the message.
    assert seen.count("INSERT") == 4 and seen.count("UPDATE") == 2


def _attachment():
    from mailbridge.parse.model import Attachment as Parsed
    payload = b"%PDF-1.4 factura"
    import hashlib
    return Parsed(filename="factura.pdf", content_type="application/pdf", size=len(payload),
                  sha256=hashlib.sha256(payload).hexdigest(), payload=payload, inline=True, content_id=None)
