"""The same message delivered at once by several deliveries is stored once: the unique constraint decides."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import func, select

from mailbridge import pipeline
from mailbridge.store.models import Message, RawMessage, Ticket

THREADS = Path(__file__).resolve().parent / "fixtures" / "threads"
NOW = datetime(2026, 2, 12, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(threads_config):
    return threads_config


def copies(count: int) -> list[bytes]:
    """The same mail as `count` deliveries: one Message-ID, a different relay hop on each."""
    original = (THREADS / "original_dynamics_pl.eml").read_bytes()
    return [b"Received: from relay%d.example.net by mail.example.com; Tue, 3 Feb 2026 09:12:0%d +0100\n" % (n, n)
            + original for n in range(count)]


def _count(database, model) -> int:
    with database.session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _ingest_concurrently(raws: list[bytes], database, config) -> list:
    def one(raw: bytes):
        return pipeline.ingest(raw, db=database, config=config, now=NOW, source="test", received_at=NOW)

    with ThreadPoolExecutor(max_workers=len(raws)) as pool:
        return sorted(pool.map(one, raws), key=lambda outcome: outcome.kind)


def test_eight_simultaneous_deliveries_make_one_ticket_and_one_message(database, config):
    kinds = [outcome.kind for outcome in _ingest_concurrently(copies(8), database, config)]
    assert kinds == ["created"] + ["duplicate"] * 7
    assert (_count(database, RawMessage), _count(database, Ticket), _count(database, Message)) == (8, 1, 1)


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_lost_race_at_the_message_id_constraint_is_a_duplicate_not_a_failure(database, config, monkeypatch):
    # Both deliveries pass the duplicate lookup before either stores: only the unique
    # constraint on Message-ID can stop the second. (On SQLite, BEGIN IMMEDIATE serialises
    # whole transactions, so this interleaving cannot happen there.)
    barrier = threading.Barrier(2, timeout=20)
    real_find_thread = pipeline.find_thread

    def find_then_wait(*args, **kwargs):
        decision = real_find_thread(*args, **kwargs)
        barrier.wait()
        return decision

    monkeypatch.setattr(pipeline, "find_thread", find_then_wait)
    created, duplicate = _ingest_concurrently(copies(2), database, config)
    assert (created.kind, duplicate.kind, duplicate.rule) == ("created", "duplicate", "duplicate-message-id")
    assert (_count(database, Ticket), _count(database, Message)) == (1, 1)
    with database.session() as session:
        states = set(session.exec(select(RawMessage.state)))
    assert states == {"done"}
