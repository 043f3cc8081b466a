"""The worker: pending raw mail processed exactly once, after a crash too, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from serve_support import count, make_config, message
from sqlalchemy.exc import OperationalError

from mailbridge import pipeline
from mailbridge.intake import durable
from mailbridge.outcome import Outcome
from mailbridge.outgoing import outbox
from mailbridge.service import worker as worker_module
from mailbridge.store.models import Message, Outbox, Quarantine, RawMessage, Ticket
from mailbridge.service.worker import MAX_ATTEMPTS, Worker, describe

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def accept(db, raw: bytes) -> int:
    row, created = durable.accept_raw(raw, db=db, source="smtp", received_at=NOW,
                                     envelope_rcpts=("pomoc-dynamics@example.com",))
    assert created
    return row.id


@pytest.fixture
def config(tmp_path, database):
    return make_config(tmp_path, database)


def test_drain_processes_each_pending_message_once(database, config):
    for number in range(5):
        accept(database, message(f"Zgłoszenie {number}"))
    worker = Worker(db=database, config=config)
    assert worker.drain() == 5
    assert worker.drain() == 0
    assert count(database, Ticket) == 5 and count(database, Message) == 5
    assert count(database, RawMessage, RawMessage.state == "pending") == 0


def test_mail_accepted_before_a_crash_is_processed_by_the_next_worker(database, config):
    raw_id = accept(database, message("Przed awarią"))
    # The process died after answering 250: nothing but the raw row exists. A new worker (the
    # restarted daemon) finds it pending.
    assert count(database, RawMessage, RawMessage.state == "pending") == 1
    Worker(db=database, config=config).drain()
    with database.session() as session:
        stored = session.exec(Message.__table__.select().where(Message.raw_id == raw_id)).one()
    assert stored.ticket_id is not None and count(database, Ticket) == 1


def test_should_stop_leaves_the_rest_pending(database, config):
    for number in range(3):
        accept(database, message(f"Zgłoszenie {number}"))
    calls: list[int] = []

    def process(row, **kwargs):
        calls.append(row.id)
        return pipeline.process(row, **kwargs)

    done = Worker(db=database, config=config, process=process).drain(should_stop=lambda: len(calls) >= 1)
    assert done == 1 and count(database, RawMessage, RawMessage.state == "pending") == 2


def test_a_crashing_pipeline_is_retried_then_quarantined(database, config):
    raw_id = accept(database, message("Trujący"))

    def crash(row, **kwargs):
        raise RuntimeError("bug in a stage")

    worker = Worker(db=database, config=config, process=crash)
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(RuntimeError):
            worker.drain()
        assert count(database, RawMessage, RawMessage.state == "pending") == 1
    with pytest.raises(RuntimeError):
        worker.drain()
    assert count(database, Quarantine, Quarantine.raw_id == raw_id, Quarantine.stage == "worker") == 1
    assert worker.drain() == 0


def test_a_crash_amid_others_loses_and_duplicates_none_of_them(database, config):
    # On SQLite the others share the crashing message's transaction (a group), which is undone.
    ids = [accept(database, message(f"Sąsiad {number}")) for number in range(4)]
    poisoned = ids[2]

    def process(row, **kwargs):
        if row.id == poisoned:
            raise RuntimeError("bug in a stage")
        return pipeline.process(row, **kwargs)

    worker = Worker(db=database, config=config, process=process)
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            worker.drain()
    assert worker.drain() >= 1
    assert count(database, Quarantine, Quarantine.raw_id == poisoned) == 1
    assert count(database, Message) == 3 and count(database, Ticket) == 3
    assert count(database, RawMessage, RawMessage.state == "done") == 3


def test_a_message_failing_a_stage_is_quarantined_alone_and_its_group_stored(database, config, monkeypatch):
    # On SQLite the group is stored first without a savepoint per message; the failure undoes
    # it all and the group is stored again with them, so that only the bad message is set aside.
    ids = [accept(database, message(f"Zgłoszenie {number}")) for number in range(4)]
    find_thread = pipeline.find_thread

    def failing(parsed, *args, **kwargs):
        if parsed.subject == "Zgłoszenie 2":
            raise RuntimeError("thread lookup broke")
        return find_thread(parsed, *args, **kwargs)

    calls = []

    def process(row, **kwargs):
        calls.append((row.id, kwargs["savepoints"]))
        return pipeline.process(row, **kwargs)

    monkeypatch.setattr(pipeline, "find_thread", failing)
    kinds = []
    worker = Worker(db=database, config=config, process=process,
                    on_outcome=lambda source, outcome, seconds: kinds.append(outcome.kind))
    assert worker.drain() == 4
    assert kinds == ["created", "created", "quarantined", "created"]
    [entry] = durable.list_quarantine(database)
    assert (entry.raw_id, entry.stage) == (ids[2], "thread") and "thread lookup broke" in entry.error
    assert count(database, Message) == 3 and count(database, Ticket) == 3
    assert count(database, RawMessage, RawMessage.state == "done") == 3
    assert durable.attempts_of(database, ids) == {raw_id: 1 for raw_id in ids}
    redone = [(raw_id, True) for raw_id in ids]
    if database.dialect == "sqlite":
        assert calls == [(ids[0], False), (ids[1], False), (ids[2], False), *redone]
    else:
        assert calls == redone


def test_a_stop_after_a_group_gives_back_the_attempts_counted_for_the_next(database, config, monkeypatch):
    # On SQLite a group's result commits the next group's attempts too; a stop that comes
    # right after that commit leaves the next group unstarted, so it must not stay counted.
    monkeypatch.setattr(worker_module, "GROUP", 2)
    ids = [accept(database, message(f"Zgłoszenie {number}")) for number in range(5)]
    stop = []
    worker = Worker(db=database, config=config, on_progress=lambda: stop.append(True))
    done = worker.drain(should_stop=lambda: bool(stop))
    assert done == (2 if database.dialect == "sqlite" else 1)
    counted = {raw_id: attempts for raw_id, attempts in durable.attempts_of(database, ids).items() if attempts}
    assert counted == {raw_id: 1 for raw_id in ids[:done]}
    assert worker.drain() == 5 - done


def test_a_database_error_is_not_counted_against_the_message(database, config):
    accept(database, message("Baza nie działa"))

    def database_down(row, **kwargs):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    worker = Worker(db=database, config=config, process=database_down)
    for _ in range(MAX_ATTEMPTS + 1):
        with pytest.raises(OperationalError):
            worker.drain()
    assert count(database, Quarantine) == 0
    assert count(database, RawMessage, RawMessage.state == "pending") == 1


def test_concurrent_workers_process_each_message_exactly_once(database, config):
    """Several instances on one database: on PostgreSQL rows are claimed with SKIP LOCKED."""
    ids = {accept(database, message(f"Równolegle {number}")) for number in range(24)}
    seen: list[int] = []
    lock = threading.Lock()

    def process(row, **kwargs):
        with lock:
            seen.append(row.id)
        return pipeline.process(row, **kwargs)

    workers = [Worker(db=database, config=config, process=process) for _ in range(4)]
    if database.dialect == "sqlite":
        workers = workers[:1]  # SQLite is one daemon; its concurrency is intake's (tested elsewhere)
    threads = [threading.Thread(target=worker.drain) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(seen) == sorted(ids)
    assert count(database, Message) == 24 and count(database, Ticket) == 24


@pytest.mark.parametrize(("outcome", "line"), [
    (Outcome("created", "DYN-000001", "new", "", "dynamics", "a@b"),
     "<a@b> stored as new ticket DYN-000001 (queue dynamics, rule new)"),
    (Outcome("threaded", "DYN-000001", "reply-token", "token abc", "dynamics", "a@b"),
     "<a@b> threaded onto DYN-000001 (rule reply-token: token abc)"),
    (Outcome("threaded", "DYN-000001", "reply-token", "signed token in pomoc+12abcdefghij@example.com names DYN-1",
             "dynamics", "a@b"),
     "<a@b> threaded onto DYN-000001 (rule reply-token: signed token in pomoc+…@example.com names DYN-1)"),
    (Outcome("duplicate", None, "duplicate-message-id", "", None, "a@b"),
     "<a@b> duplicate (rule duplicate-message-id)"),
    (Outcome("quarantined", None, "failed-parse", "x", None, None, stage="parse", error="ParseError: empty"),
     "quarantined at stage parse: ParseError: empty"),
])
def test_each_outcome_reads_as_one_log_line(outcome, line):
    assert describe(outcome) == line


def test_a_message_quarantined_amid_its_group_is_undone_alone_and_stays_quarantined(database, config, monkeypatch):
    # It fails after its ticket and message rows were written: its savepoint is rolled back
    # (ROLLBACK TO SAVEPOINT), the others of the group are stored, and marking the group's rows
    # done at the end of the transaction leaves its row quarantined.
    ids = [accept(database, message("Zatruty" if number == 2 else f"Sąsiad {number}")) for number in range(4)]
    queue_effects = pipeline.notify.queue_effects

    def failing(parsed, row, *args, **kwargs):
        if parsed.subject == "Zatruty":
            raise RuntimeError("effects exploded")
        return queue_effects(parsed, row, *args, **kwargs)

    monkeypatch.setattr(pipeline.notify, "queue_effects", failing)
    assert Worker(db=database, config=config).drain() == 4
    assert [(q.raw_id, q.stage) for q in durable.list_quarantine(database)] == [(ids[2], "store")]
    assert count(database, RawMessage, RawMessage.state == "quarantined") == 1
    assert count(database, RawMessage, RawMessage.state == "done") == 3
    assert count(database, Ticket) == 3 and count(database, Message) == 3
    assert count(database, Message, Message.raw_id == ids[2]) == 0


def acks(database) -> list[tuple[int, str]]:
    """The acknowledgements queued, by outbox id: (ticket id, state)."""
    with database.session() as session:
        rows = session.exec(Outbox.__table__.select().where(Outbox.kind == "ack").order_by(Outbox.id)).all()
    return [(row.ticket_id, row.state) for row in rows]


def test_the_rate_limit_counts_the_acknowledgements_queued_earlier_in_the_same_group(database, config):
    # On SQLite a group's acknowledgements are inserted together at its end (`outbox.deferred`):
    # until then loop protection must count them as if they were in the table. Twelve first
    # mails from one customer in one group: the default limit (10 in 3 h) holds the last two.
    for number in range(12):
        accept(database, message(f"Zgłoszenie {number}", sender="seryjny@example.org"))
    assert Worker(db=database, config=config).drain() == 12
    queued = acks(database)
    assert [state for _, state in queued] == ["queued"] * 10 + ["held"] * 2
    # Queued in the order the tickets were opened, as when each was inserted at once.
    assert [ticket_id for ticket_id, _ in queued] == sorted(ticket_id for ticket_id, _ in queued)


def test_a_group_whose_queued_mail_cannot_be_inserted_is_stored_again_a_message_at_a_time(
        database, config, monkeypatch):
    # The group's waiting mail fails at its end: like a failing stage, the transaction is undone
    # and the group stored again with a savepoint per message, whose mail is inserted at once.
    ids = [accept(database, message(f"Zgłoszenie {number}")) for number in range(3)]
    insert_waiting = outbox.insert_waiting
    failures = []

    def failing(session):
        if session.info.get(outbox._DEFERRED) and not failures:
            failures.append(True)
            raise RuntimeError("the insert broke")
        insert_waiting(session)

    monkeypatch.setattr(outbox, "insert_waiting", failing)
    assert Worker(db=database, config=config).drain() == 3
    assert failures == ([True] if database.dialect == "sqlite" else [])
    assert durable.list_quarantine(database) == []
    assert count(database, RawMessage, RawMessage.state == "done") == 3
    assert len(acks(database)) == 3 and durable.attempts_of(database, ids) == {raw_id: 1 for raw_id in ids}
