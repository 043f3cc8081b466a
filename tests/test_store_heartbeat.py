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


def test_the_backlog_counts_escalation_and_sms_on_both_databases(database):
    from mailbridge.store import repo
    from mailbridge.store.models import EscalationStep, Sms

    with database.session() as session:
        def ticket(requester: str, escalate_at: datetime):
            return repo.create_ticket(session=session, queue="dynamics", code_prefix="DYN", requester=requester,
                                      requester_name="", subject="Faktura", received_at=START, now=START,
                                      columns={"escalate_at": escalate_at})

        # One ticket's step has waited 11 minutes for the tick (behind), the other's 2 (not yet).
        late = ticket("a@klient.pl", START - timedelta(minutes=11))
        ticket("b@klient.pl", START - timedelta(minutes=2))
        session.flush()
        step = EscalationStep(ticket_id=late.id, key="urgent#0@first_response:x", ladder="urgent", step=0,
                              clock="first_response", due_at=START, ran_at=START, state="failed")
        session.add(step)
        session.flush()
        session.add_all([Sms(intent=f"esc:{step.id}:{n}", ticket_id=late.id, step_id=step.id, recipient=f"+4860010020{n}",
                             text="DYN-000001", state=state, next_attempt_at=START, created_at=START)
                         for n, state in enumerate(("sent", "sent", "failed", "queued"))])
    counts = health.backlog(database, now=START)
    assert counts["escalation"] == {"behind_tickets": 1, "failed_steps": 1}
    assert counts["sms"] == {"queued": 1, "sent": 2, "failed": 1}
    verdict = health.judge([], counts, now=START)
    assert any("1 SMS failed for good" in line for line in verdict.problems)
    assert any("1 ticket(s) with an escalation step due for over 10 minutes" in line for line in verdict.problems)
