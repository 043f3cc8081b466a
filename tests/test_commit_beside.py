"""A commit beside other work (`Database.session(meanwhile=...)`): the SQLite worker parses its next group meanwhile."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from serve_support import count, make_config, message
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from mailbridge import pipeline
from mailbridge.intake import durable
from mailbridge.service import worker as worker_module
from mailbridge.service.worker import Worker
from mailbridge.store import db as store_db
from mailbridge.store.models import Message, RawMessage, Ticket
from mailbridge.store.repo import create_ticket

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _tickets(db) -> int:
    with db.reader().session() as session:
        return session.execute(text("SELECT count(*) FROM ticket")).scalar_one()


def _wait(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_the_commit_runs_in_a_thread_of_its_own_while_meanwhile_works_in_this_one(database):
    before = _tickets(database)
    committed_in: list[int] = []
    started = threading.Event()

    def hold(connection) -> None:
        committed_in.append(threading.get_ident())
        if threading.current_thread().name == "commit":
            started.wait(10)  # the commit goes on once meanwhile has begun beside it

    event.listen(database.engine, "commit", hold)
    seen: list[object] = []

    def meanwhile(committing) -> None:
        seen.append((threading.get_ident(), committing()))
        started.set()
        # `committing()` turns False once the commit is over, and only then is the row there.
        assert _wait(lambda: not committing())
        seen.append(_tickets(database))

    with database.session(meanwhile=meanwhile) as session:
        create_ticket(session=session, queue="dynamics", code_prefix="DYN", requester="ana@cliente.es",
                      requester_name="Ana", subject="Factura", language="es", received_at=NOW, now=NOW)
    assert seen == [(threading.get_ident(), True), before + 1]
    # The session's commit, then the reader's (in meanwhile, in this thread).
    assert len(committed_in) == 2 and committed_in[0] != threading.get_ident() == committed_in[1]


def test_a_failing_block_is_rolled_back_and_nothing_runs_beside_it(database):
    ran: list[bool] = []
    before = _tickets(database)
    with pytest.raises(RuntimeError, match="broke"):
        with database.session(meanwhile=lambda committing: ran.append(True)) as session:
            create_ticket(session=session, queue="dynamics", code_prefix="DYN", requester="ana@cliente.es",
                          requester_name="Ana", subject="Factura", language="es", received_at=NOW, now=NOW)
            raise RuntimeError("broke")
    assert ran == [] and _tickets(database) == before


def test_a_commit_that_fails_raises_in_the_callers_thread_and_stores_nothing(tmp_path):
    # A deferred foreign key is checked at COMMIT: the commit itself fails, in the commit thread.
    db = store_db.open_database(f"sqlite:///{tmp_path / 'deferred.sqlite3'}")
    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            session.execute(text("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) "
                                 "DEFERRABLE INITIALLY DEFERRED)"))
        ran: list[bool] = []
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            with db.session(meanwhile=lambda committing: ran.append(True)) as session:
                session.execute(text("INSERT INTO child VALUES (1)"))
        assert ran == [True]
        with db.session() as session:
            assert session.execute(text("SELECT count(*) FROM child")).scalar_one() == 0
            # The connection went back to the pool usable.
            session.execute(text("INSERT INTO parent VALUES (1)"))
    finally:
        db.dispose()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_worker_parses_the_next_group_in_its_own_thread_while_a_group_commits(database, tmp_path, monkeypatch):
    config = make_config(tmp_path, database)
    monkeypatch.setattr(worker_module, "GROUP", 3)  # 7 messages: groups of 3, 3 and 1
    for number in range(7):
        durable.accept_raw(message(f"Zgłoszenie {number}"), db=database, source="smtp", received_at=NOW,
                           envelope_rcpts=("pomoc-dynamics@example.com",))
    parsed_in: list[int] = []
    parse_stage = worker_module.parse_stage

    def counted_parse(raw: bytes):
        parsed_in.append(threading.get_ident())
        return parse_stage(raw)

    # Each group commit with a next group waits until that group is parsed (3, then 1 more):
    # what the worker parsed early is then known, however fast the disk.
    targets = [3, 4]

    def slow_commit(connection) -> None:
        if threading.current_thread().name == "commit" and targets:
            assert _wait(lambda: len(parsed_in) >= targets[0])
            targets.pop(0)

    monkeypatch.setattr(worker_module, "parse_stage", counted_parse)
    event.listen(database.engine, "commit", slow_commit)
    given: list[bool] = []

    def process(row, **kwargs):
        given.append(kwargs["parsed"] is not None)
        return pipeline.process(row, **kwargs)

    assert Worker(db=database, config=config, process=process).drain() == 7
    assert given == [False] * 3 + [True] * 4
    assert parsed_in == [threading.get_ident()] * 4 and targets == []
    assert count(database, Ticket) == 7 and count(database, Message) == 7
    assert count(database, RawMessage, RawMessage.state == "done") == 7
