"""Durable intake: raw mail stored once however often and however concurrently it arrives; quarantine."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier

import pytest
from sqlmodel import func, select

from mailbridge.intake import durable
from mailbridge.errors import NotFound
from mailbridge.store.db import open_database
from mailbridge.store.models import RawMessage

RECEIVED = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
# CRLF, 8-bit Polish text and a trailing space: stored and returned exactly, byte for byte.
RAW = (
    "From: Zofia Wójcik <zofia@example.pl>\r\nTo: pomoc-dynamics@example.com\r\n"
    "Subject: Błąd płatności \r\nMessage-ID: <intake-1@example.pl>\r\n\r\nZażółć gęślą jaźń.\r\n"
).encode()


def _accept(database, raw: bytes = RAW):
    return durable.accept_raw(raw, db=database, source="file:/tmp/x.eml", received_at=RECEIVED)


def _raw_count(database) -> int:
    with database.session() as session:
        return session.exec(select(func.count()).select_from(RawMessage)).one()


def test_the_same_bytes_twice_are_stored_once(database):
    first, created_first = _accept(database)
    second, created_second = _accept(database)
    assert (created_first, created_second) == (True, False)
    assert first.id == second.id
    assert _raw_count(database) == 1


def test_many_at_once_keep_their_order_and_store_known_or_repeated_bytes_once(database):
    known, _ = _accept(database)
    other = RAW.replace(b"intake-1", b"intake-2")
    third = RAW.replace(b"intake-1", b"intake-3")
    rows = durable.accept_many([(other, RECEIVED), (RAW, RECEIVED), (third, RECEIVED), (other, RECEIVED)],
                               db=database, source="imap:support/INBOX", envelope_rcpts=["support@example.com"])
    assert [created for _, created in rows] == [True, False, True, False]
    assert rows[1][0] == known.id and rows[3][0] == rows[0][0]
    assert known.id < rows[0][0] < rows[2][0]
    assert _raw_count(database) == 3
    stored = durable.get_raw(database, rows[2][0])
    assert stored.content == third and stored.received_at == RECEIVED and stored.state == "pending"
    assert stored.source == "imap:support/INBOX" and stored.envelope_rcpts == ["support@example.com"]
    assert durable.accept_many([], db=database, source="imap:support/INBOX") == []


def test_raw_bytes_come_back_byte_for_byte_with_their_envelope(database):
    row, _ = durable.accept_raw(
        RAW, db=database, source="smtp", received_at=RECEIVED,
        envelope_from="zofia@example.pl", envelope_rcpts=["pomoc-dynamics+abc@example.com"],
    )
    stored = durable.get_raw(database, row.id)
    assert stored.content == RAW
    assert stored.size == len(RAW)
    assert stored.envelope_rcpts == ["pomoc-dynamics+abc@example.com"]
    assert stored.received_at == RECEIVED
    assert stored.state == "pending"


def test_concurrent_threads_accepting_the_same_message_store_it_once(database):
    workers = 8
    barrier = Barrier(workers)

    def accept(_):
        barrier.wait()
        return _accept(database)

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(accept, range(workers)))
    assert sum(created for _, created in results) == 1
    assert len({row.id for row, _ in results}) == 1
    assert _raw_count(database) == 1


_PROCESS_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from mailbridge.intake.durable import accept_raw
    from mailbridge.store.db import connect
    db = connect(sys.argv[1])
    print("ready", flush=True)
    while not Path(sys.argv[2]).exists():
        time.sleep(0.005)
    created = 0
    for n in range(40):
        raw = f"Message-ID: <p{n}@example.com>\\r\\nSubject: {n}\\r\\n\\r\\nbody {n}\\r\\n".encode()
        created += accept_raw(raw, db=db, source="test", received_at=datetime.now(UTC))[1]
    print(created)
    """
)


def test_two_processes_accepting_the_same_messages_store_each_once(database, tmp_path):
    # Separate processes share nothing but the database: the unique constraint alone must hold.
    # Both start importing first and begin together when the "go" file appears.
    go = tmp_path / "go"
    command = [sys.executable, "-c", _PROCESS_SCRIPT, database.url, str(go)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    assert [process.stdout.readline().strip() for process in processes] == ["ready", "ready"]
    go.touch()
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    assert sum(int(output) for output in outputs) == 40
    assert _raw_count(database) == 40


def test_after_a_crash_the_accepted_message_is_pending_and_a_redelivery_is_not_a_second_copy(database):
    row, _ = _accept(database)
    # A crash right after the commit: nothing else ran. A new process opens the same database.
    database.dispose()
    reopened = open_database(database.url)
    assert [pending.id for pending in durable.pending_raw(reopened)] == [row.id]
    assert _accept(reopened)[1] is False
    durable.mark_done(reopened, row.id)
    assert durable.pending_raw(reopened) == []
    reopened.dispose()


def test_pending_raw_is_oldest_first_and_limited(database):
    ids = [_accept(database, RAW + str(n).encode())[0].id for n in range(5)]
    assert [row.id for row in durable.pending_raw(database, limit=3)] == ids[:3]


def test_quarantine_keeps_stage_and_error_and_takes_the_message_out_of_pending(database):
    row, _ = _accept(database)
    held = durable.quarantine(database, row.id, "parse", "ValueError: boom")
    assert (held.raw_id, held.stage, held.error, held.attempts, held.state) == (
        row.id, "parse", "ValueError: boom", 1, "held",
    )
    assert durable.pending_raw(database) == []
    assert durable.get_raw(database, row.id).state == "quarantined"
    assert [q.id for q in durable.list_quarantine(database)] == [held.id]
    assert durable.get_quarantine(database, held.id).error == "ValueError: boom"


def test_a_failed_retry_updates_the_same_quarantine_row(database):
    row, _ = _accept(database)
    first = durable.quarantine(database, row.id, "parse", "first")
    durable.mark_retried(database, first.id)
    again = durable.quarantine(database, row.id, "thread", "second")
    assert (again.id, again.attempts, again.stage, again.error, again.state) == (
        first.id, 2, "thread", "second", "held",
    )


def test_retried_and_dropped_leave_the_held_list_but_stay_listed_in_full(database):
    retried = durable.quarantine(database, _accept(database, RAW + b"1")[0].id, "parse", "e1")
    dropped = durable.quarantine(database, _accept(database, RAW + b"2")[0].id, "route", "e2")
    durable.mark_retried(database, retried.id)
    durable.drop(database, dropped.id)
    assert durable.list_quarantine(database) == []
    states = {q.id: q.state for q in durable.list_quarantine(database, state=None)}
    assert states == {retried.id: "retried", dropped.id: "dropped"}
    # Dropping does not delete: the raw bytes stay for inspection.
    assert durable.get_raw(database, dropped.raw_id).content == RAW + b"2"


def test_an_unknown_quarantine_id_is_a_named_error(database):
    with pytest.raises(NotFound, match="no quarantined message with id 999"):
        durable.drop(database, 999)
    assert durable.get_quarantine(database, 999) is None
