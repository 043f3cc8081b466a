"""`[processing] workers = N`: the same tickets and threading as one worker, every message stored once, across a SIGKILL too.

Real `mailbridge serve` processes on a backlog of generated mail (bench/mailgen.py, replies
included), compared with one in-process worker draining the same backlog in id order: on
SQLite (one storing worker, parser processes ahead of it) and on PostgreSQL (N workers
claiming with SKIP LOCKED). Then the config key, the sender's outbox leases and a reload that
changes N.
"""

from __future__ import annotations

import os
import random
import re
import signal
import smtplib
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from serve_support import ServeProcess, count, message, wait_until
from test_worker_process import gone
from sqlmodel import select

from bench import mailgen, serve_proc
from bench.serve_proc import process_tree
from mailbridge.config import load_config
from mailbridge.errors import ConfigError
from mailbridge.intake import durable
from mailbridge.outgoing import outbox
from mailbridge.outgoing.outbox_worker import OutboxWorker, instance_id
from mailbridge.service.worker import Worker
from mailbridge.service.sender_process import lease_owner
from mailbridge.service.workers import layout
from mailbridge.store.db import Database, open_database
from mailbridge.store.models import Message, Outbox, RawMessage, Ticket
from mailbridge.store.types import utcnow

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_STARTED = re.compile(r"processing worker started \(pid (\d+)\): slot (\d+), (\d+) parser")
# MAILBRIDGE_SOAK=1: a long backlog and many kills instead of a short one and one kill
# (=MESSAGES,KILLS for a size of one's own).
SOAK = os.environ.get("MAILBRIDGE_SOAK", "")
KILL_BACKLOG, KILLS = (tuple(int(n) for n in SOAK.split(",")) if "," in SOAK else (3000, 20) if SOAK else (90, 1))
POSTGRES_ONLY = pytest.mark.parametrize("database", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                                        indirect=True)


def write_config(directory: Path, *, workers: int | None, database_url: str = "") -> Path:
    directory.mkdir(exist_ok=True)
    extra = f'[database]\nurl = "{database_url}"\n' if database_url else ""
    return serve_proc.write_config(directory, extra=extra, workers=workers)


def fill(db: Database, corpus: list[bytes]) -> None:
    for raw in corpus:
        durable.accept_raw(raw, db=db, source="smtp", received_at=NOW)


def drain_with_serve(config_path: Path, db: Database, expected: int) -> ServeProcess:
    server = ServeProcess(config_path).start()
    try:
        wait_until(lambda: count(db, RawMessage, RawMessage.state != "pending") == expected, timeout=180,
                   what="the backlog to be processed", interval=0.2)
    finally:
        assert server.stop() == 0
    return server


def reference(directory: Path, corpus: list[bytes]) -> Database:
    """The same backlog drained by one worker in this process, in id order: what workers = 1 does."""
    config = load_config(write_config(directory, workers=1), env={})
    db = open_database(config.database_url)
    fill(db, corpus)
    Worker(db=db, config=config).drain()
    return db


def outcomes(db: Database) -> dict[str, tuple]:
    """Per incoming Message-ID: its ticket's code, the threading rule and the kind it was stored as."""
    statement = (select(Message.message_id, Ticket.code, Message.thread_rule, Message.kind)
                 .join(Ticket, Ticket.id == Message.ticket_id, isouter=True).where(Message.direction == "in"))
    with db.session() as session:
        return {mid: (code, rule, kind) for mid, code, rule, kind in session.exec(statement)}


def tickets(db: Database) -> set[frozenset[str]]:
    """Which messages share a ticket, whatever the tickets' codes."""
    grouped = defaultdict(set)
    with db.session() as session:
        for mid, ticket_id in session.exec(select(Message.message_id, Message.ticket_id)
                                           .where(Message.direction == "in", Message.ticket_id.is_not(None))):
            grouped[ticket_id].add(mid)
    return {frozenset(mids) for mids in grouped.values()}


def outbox_kinds(db: Database) -> Counter:
    with db.session() as session:
        return Counter(session.exec(select(Outbox.kind)).all())


def assert_each_stored_once(db: Database, raws: int) -> None:
    assert count(db, RawMessage, RawMessage.state == "pending") == 0
    with db.session() as session:
        stored = session.exec(select(Message.raw_id).where(Message.direction == "in")).all()
    assert len(stored) == len(set(stored)) == raws - count(db, RawMessage, RawMessage.state == "quarantined")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_two_workers_on_sqlite_thread_a_backlog_as_one_worker_does(tmp_path, database):
    corpus = mailgen.generate(80, seed=17)
    expected = reference(tmp_path / "one", corpus)
    config_path = write_config(tmp_path / "two", workers=2)
    db = open_database(f"sqlite:///{serve_proc.database_path(tmp_path / 'two')}")
    fill(db, corpus)
    server = drain_with_serve(config_path, db, len(corpus))
    assert [m.group(2, 3) for line in server.lines if (m := _STARTED.search(line))] == [("0", "1")]
    assert_each_stored_once(db, len(corpus))
    assert outcomes(db) == outcomes(expected)
    assert outbox_kinds(db) == outbox_kinds(expected)
    db.dispose()
    expected.dispose()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_killed_sqlite_worker_takes_its_parsers_with_it_and_is_started_again(tmp_path, database):
    config_path = write_config(tmp_path, workers=3, database_url=database.url)
    server = ServeProcess(config_path).start()
    try:
        send(server, "Pierwsza")
        wait_until(lambda: count(database, Ticket) == 1, timeout=30, what="the first ticket")
        [leader] = [int(m.group(1)) for line in server.lines if (m := _STARTED.search(line))]
        family = process_tree(leader)
        assert len(family) >= 4  # the worker, the forkserver, two parsers (and the resource tracker)
        os.kill(leader, signal.SIGKILL)
        wait_until(lambda: all(gone(pid) for pid in family), timeout=30, what="the parsers to exit")
        send(server, "Druga")
        wait_until(lambda: count(database, Ticket) == 2, timeout=60, what="the second ticket")
    finally:
        assert server.stop() == 0
    assert len([line for line in server.lines if _STARTED.search(line)]) == 2


@POSTGRES_ONLY
def test_three_workers_on_postgresql_keep_the_threading_of_one(tmp_path, database):
    corpus = mailgen.generate(80, seed=23)
    expected = reference(tmp_path / "one", corpus)
    fill(database, corpus)
    server = drain_with_serve(write_config(tmp_path / "three", workers=3, database_url=database.url), database,
                              len(corpus))
    assert sorted(m.group(2, 3) for line in server.lines if (m := _STARTED.search(line))) == \
           [("0", "0"), ("1", "0"), ("2", "0")]
    assert_each_stored_once(database, len(corpus))
    # Tickets are numbered in the order they were opened, which parallel workers do not keep.
    assert tickets(database) == tickets(expected)
    assert {mid: rule for mid, (_, rule, _) in outcomes(database).items()} == \
           {mid: rule for mid, (_, rule, _) in outcomes(expected).items()}
    assert outbox_kinds(database) == outbox_kinds(expected)
    expected.dispose()


@POSTGRES_ONLY
def test_a_worker_killed_mid_backlog_loses_and_duplicates_nothing(tmp_path, database):
    fill(database, [message(f"Zgłoszenie {n}", sender=f"klient{n}@example.org") for n in range(KILL_BACKLOG)])
    config_path = write_config(tmp_path, workers=3, database_url=database.url)
    server = ServeProcess(config_path).start()
    chaos = random.Random(17)
    try:
        for kill in range(1, KILLS + 1):
            wait_until(lambda: len(_slots(server)) == 2 + kill, timeout=120, what="every worker to run")
            wait_until(lambda: count(database, RawMessage, RawMessage.state == "done") >=
                       kill * KILL_BACKLOG // (KILLS + 4), timeout=300, what="processing to be under way", interval=0.05)
            os.kill(_current_pids(server)[chaos.randrange(3)], signal.SIGKILL)
            wait_until(lambda: sum("exited with signal 9" in line for line in server.lines) == kill,
                       what="the worker's exit")
        wait_until(lambda: count(database, RawMessage, RawMessage.state == "pending") == 0, timeout=600,
                   what="the backlog to be processed", interval=0.2)
    finally:
        assert server.stop() == 0
    assert_each_stored_once(database, KILL_BACKLOG)
    assert count(database, Ticket) == KILL_BACKLOG
    # One acknowledgement per ticket, none twice: each customer's first mail.
    with database.session() as session:
        acked = session.exec(select(Outbox.ticket_id).where(Outbox.kind == "ack")).all()
    assert len(acked) == len(set(acked)) == KILL_BACKLOG


def test_workers_must_be_a_whole_number_from_one(tmp_path):
    for value, problem in (("0", "must be at least 1 (got 0)"), ("-3", "must be at least 1 (got -3)"),
                           ('"two"', "must be a whole number"), ("1000", "must be at most 128 (got 1000)")):
        path = write_config(tmp_path, workers=None)
        path.write_text(path.read_text() + f"[processing]\nworkers = {value}\n")
        with pytest.raises(ConfigError) as raised:
            load_config(path, env={})
        [line] = raised.value.problems
        assert line.startswith(f"processing.workers: {problem}"), value


def test_workers_default_to_the_cores_minus_one_and_lay_out_by_database(tmp_path, monkeypatch):
    path = write_config(tmp_path, workers=None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    config = load_config(path, env={})
    assert config.processing.workers == 3
    assert layout(config, "sqlite") == (1, 2) and layout(config, "postgresql") == (3, 0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert load_config(path, env={}).processing.workers == 1


def test_the_sender_takes_back_its_own_outbox_leases_only(tmp_path, database):
    config = load_config(write_config(tmp_path, workers=2, database_url=database.url), env={})
    fill(database, [message(f"Prośba {n}", to="pomoc-dynamics@example.com", sender=f"k{n}@example.org")
                    for n in range(2)])
    Worker(db=database, config=config).drain()
    # A one-off `mailbridge outbox send` still sending, and this instance's sender, which died.
    owners = [instance_id(config, "run"), lease_owner(config)]
    assert len(set(owners)) == 2
    now = utcnow()
    for owner in owners:
        assert len(outbox.claim(database, now, 1, owner)) == 1
    # The sender restarted: it takes back its lease, never the one the other run still holds.
    assert OutboxWorker(db=database, config=config, owner=owners[1]).resume() == 1
    with database.session() as session:
        leased = session.exec(select(Outbox.claimed_by).where(Outbox.next_attempt_at > utcnow())).all()
    assert leased == [owners[0]]


@POSTGRES_ONLY
def test_a_reload_that_changes_the_worker_count_starts_and_retires_slots(tmp_path, database):
    config_path = write_config(tmp_path, workers=1, database_url=database.url)
    server = ServeProcess(config_path).start()
    try:
        wait_until(lambda: _slots(server) == ["0"], what="the worker")
        config_path.write_text(config_path.read_text().replace("workers = 1", "workers = 2"))
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: sorted(_slots(server)) == ["0", "0", "1"], timeout=60, what="a second worker")
        config_path.write_text(config_path.read_text().replace("workers = 2", "workers = 1"))
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: len(_slots(server)) == 4 and _stopped(server) == 3, timeout=60,
                   what="the second worker to leave")
        send(server, "Po zmianie")
        wait_until(lambda: count(database, Ticket) == 1, timeout=30, what="the ticket")
    finally:
        assert server.stop() == 0
    assert sorted(_slots(server)) == ["0", "0", "0", "1"] and not any("exited with" in line for line in server.lines)


def send(server: ServeProcess, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test", timeout=15) as smtp:
        smtp.sendmail("klient@example.org", ["support@example.com"], message(subject, to="support@example.com"))


def _current_pids(server: ServeProcess) -> dict[int, int]:
    """Each slot's latest worker pid."""
    return {int(m.group(2)): int(m.group(1)) for line in server.lines if (m := _STARTED.search(line))}


def _stopped(server: ServeProcess) -> int:
    return sum("processing worker stopped" in line for line in server.lines)


def _slots(server: ServeProcess) -> list[str]:
    return [m.group(2) for line in server.lines if (m := _STARTED.search(line))]
