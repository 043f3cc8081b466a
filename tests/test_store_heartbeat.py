"""Heartbeat rows on SQLite and PostgreSQL: registered once, refreshed, stopped, old ones forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailbridge.service import health
from mailbridge.store import heartbeat
from mailbridge.store.heartbeat import Heartbeat

START = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def _row(instance: str, started: datetime) -> Heartbeat:
    return Heartbeat(instance=instance, host="mx1", pid=1, version="0.1.0", started_at=started, beat_at=started,
                     state={"worker": {"alive": True}, "imap": [{"account": "buzón", "state": "watching"}]})


def test_register_beat_stop_and_forget(database):
    heartbeat.register(database, _row("old", START - timedelta(days=8)))
    heartbeat.register(database, _row("mx1:1:a", START))
    heartbeat.register(database, _row("mx1:1:a", START))  # the same instance twice: one row
    assert [r.instance for r in heartbeat.instances(database)] == ["mx1:1:a"]  # "old" was forgotten
    heartbeat.beat(database, "mx1:1:a", now=START + timedelta(seconds=10), state={"spool_backlog": 4})
    (row,) = heartbeat.instances(database)
    assert row.beat_at == START + timedelta(seconds=10) and row.state == {"spool_backlog": 4}
    heartbeat.stopped(database, "mx1:1:a", now=START + timedelta(minutes=1), state={})
    (row,) = heartbeat.instances(database)
    assert row.stopped_at == START + timedelta(minutes=1)


def test_the_backlog_counts_on_both_databases(database):
    counts = health.backlog(database, now=START)
    assert counts["pending_messages"] == 0 and counts["outbox"]["failed"] == 0 and counts["overdue_tickets"] == 0
