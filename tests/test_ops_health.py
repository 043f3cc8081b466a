"""`health.judge`: healthy, degraded or down from heartbeat rows and the database's backlog (a table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbridge.service import health
from mailbridge.store.heartbeat import Heartbeat

NOW = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
GOOD = {"listener": {"state": "listening"}, "worker": {"alive": True},
        "imap": [{"account": "buzon", "state": "watching", "problem": None}]}
CALM = {"pending_messages": 0, "oldest_pending_at": None, "outbox": {"failed": 0}}


def row(host="mx1", pid=100, *, beat=timedelta(seconds=3), started=timedelta(hours=1), stopped=False, **state):
    return Heartbeat(instance=f"{host}:{pid}", host=host, pid=pid, version="0.1.0", started_at=NOW - started,
                     beat_at=NOW - beat, stopped_at=NOW - beat if stopped else None, state={**GOOD, **state})


@pytest.mark.parametrize(("rows", "counts", "state", "problem"), [
    ([row()], CALM, "healthy", None),
    ([], CALM, "down", "no mailbridge instance is running"),
    ([row(stopped=True)], CALM, "down", "no mailbridge instance is running"),
    ([row(beat=timedelta(minutes=5))], CALM, "down", "mx1 pid 100: no heartbeat since"),
    ([row(worker={"alive": False})], CALM, "degraded", "the processing worker is not running"),
    ([row(sender={"alive": False})], CALM, "degraded", "the sender (outgoing mail) is not running"),
    # GOOD has no "sender": a heartbeat from before the sender had a process of its own (its worker sent).
    ([row(sender={"alive": True})], CALM, "healthy", None),
    ([row(imap=[{"account": "buzon", "state": "failing", "problem": "login refused"}])], CALM, "degraded",
     "IMAP buzon: login refused"),
    ([row(listener={"state": "stopped"})], CALM, "degraded", "the listener is not listening"),
    # A second host went silent while the first runs: degraded.
    ([row(), row("mx2", beat=timedelta(minutes=2))], CALM, "degraded", "mx2 pid 100: no heartbeat since"),
    # A crash that systemd restarted on the same host is history, not a problem.
    ([row(pid=200, started=timedelta(minutes=1)), row(pid=100, beat=timedelta(minutes=2))], CALM, "healthy", None),
    ([row()], {**CALM, "pending_messages": 7, "oldest_pending_at": (NOW - timedelta(minutes=11)).isoformat()},
     "degraded", "7 message(s) waiting for processing"),
    ([row()], {**CALM, "pending_messages": 7, "oldest_pending_at": (NOW - timedelta(minutes=2)).isoformat()},
     "healthy", None),
    ([row()], {**CALM, "outbox": {"failed": 2}}, "degraded", "2 outgoing mail(s) failed for good"),
])
def test_judge(rows, counts, state, problem):
    verdict = health.judge(rows, counts, now=NOW)
    assert verdict.state == state, verdict.problems
    assert verdict.exit_code == {"healthy": 0, "degraded": 1, "down": 2}[state]
    if problem is None:
        assert verdict.problems == []
    else:
        assert any(problem in line for line in verdict.problems), verdict.problems


def test_instances_are_reported_with_their_liveness():
    verdict = health.judge([row(pid=200, started=timedelta(minutes=1)), row(pid=100, beat=timedelta(minutes=2))],
                           CALM, now=NOW)
    assert [(i["pid"], i["state"]) for i in verdict.instances] == [(200, "running"), (100, "replaced")]


def test_status_prints_each_instance_and_the_backlog(tmp_path):
    """`mailbridge status` in text: one line per instance and part, the database's backlog, exit code."""
    from typer.testing import CliRunner

    from mailbridge.cli import _register, app
    from mailbridge.store import heartbeat
    from mailbridge.store.db import open_database
    from mailbridge.store.types import utcnow
    from tests.serve_support import write_config

    _register()
    (tmp_path / "state").mkdir()
    config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}")
    db = open_database(f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}")
    now = utcnow()
    state = {**GOOD, "listener": {"protocol": "lmtp", "address": "127.0.0.1:2525", "state": "listening"},
             "worker": {"alive": True, "pid": 4250, "restarts": 1}, "sender": {"alive": True, "pid": 4251, "restarts": 0},
             "spool_backlog": 3, "last_tick_at": None,
             "imap": [{"account": "buzon", "state": "failing", "problem": "IMAP login failed for buzon"}]}
    heartbeat.register(db, Heartbeat(instance="mx1:4242:ab", host="mx1", pid=4242, version="0.1.0",
                                     started_at=now, beat_at=now, state=state))
    db.dispose()
    result = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "mailbridge: degraded (1 instance(s) running)"
    assert lines[1].startswith("mx1 pid 4242 (mailbridge 0.1.0): running, up since ")
    assert lines[2:7] == ["  listener: LMTP on 127.0.0.1:2525, listening", "  worker: alive (pid 4250, 1 restart(s))",
                          "  sender: alive (pid 4251, 0 restart(s))", "  spool backlog: 3; last deadline tick: none yet",
                          "  IMAP buzon: failing: IMAP login failed for buzon"]
    assert "outbox: 0 queued, 0 held, 0 failed, 0 bounced, 0 sent" in lines
    assert lines[-1] == "problem: mx1 pid 4242: IMAP buzon: IMAP login failed for buzon"
