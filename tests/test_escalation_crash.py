"""Exactly once across crashes and instances: `serve` killed after claiming or after sending, two serves on PostgreSQL.

The SMS gateway is a local HTTP server started by the test; what it took is what a phone would
receive. `serve` runs as a real process (`python -m mailbridge serve`) and is SIGKILLed by the
gateway itself at the instant under test.
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from mailbridge import pipeline
from mailbridge.config import load_config
from mailbridge.store.db import open_database
from mailbridge.store.models import EscalationStep, Outbox, Sms, Ticket
from mailbridge.store.types import utcnow
from serve_support import ServeProcess, wait_until
from sms_gateway import gateway

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "escalation" / "mailbridge.toml"


def write_config(tmp_path: Path, database_url: str, gateway_url: str, provider: str = "smsapi") -> Path:
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace('"env:MAILBRIDGE_TEST_STATE_DIR"', f'"{tmp_path / "state"}"')
    text = text.replace('"env:MAILBRIDGE_TEST_DATABASE_URL"', f'"{database_url}"')
    text = text.replace("[escalation]\n", "[escalation]\ntick_seconds = 1\n")
    sms = (f'[sms]\nprovider = "smsapi"\ntimeout_seconds = 1\n[sms.smsapi]\ntoken = "t"\nurl = "{gateway_url}/sms.do"\n'
           if provider == "smsapi" else
           f'[sms]\nprovider = "http"\ntimeout_seconds = 5\n[sms.http]\nurl = "{gateway_url}/send"\n'
           'form = { to = "{{ sms.to }}", text = "{{ sms.text }}", id = "{{ sms.id }}" }\n')
    path = tmp_path / "mailbridge.toml"
    path.write_text(text + '\n[listener]\nhost = "127.0.0.1"\nport = 0\n' + sms, encoding="utf-8")
    return path


def critical(number: int) -> bytes:
    return (f"Message-ID: <crit{number}@klient.pl>\nFrom: klient{number}@klient.pl\nTo: pomoc-dynamics@example.com\n"
            f"Subject: AWARIA KRYTYCZNA {number}\nContent-Type: text/plain; charset=utf-8\n\nSystem stoi.\n").encode()


def count(db, model, *where) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def gate():
    server = gateway("smsapi")
    yield server
    server.close()


@pytest.mark.parametrize("moment", ["before", "after"])
def test_serve_killed_right_after_claiming_or_right_after_sending_sends_the_sms_once(tmp_path, database, gate, moment):
    path = write_config(tmp_path, database.url, gate.url)
    config = load_config(path, env={})
    now = utcnow()
    pipeline.ingest(critical(1), db=database, config=config, now=now, source="test", received_at=now)
    serve = ServeProcess(path)
    # The gateway kills serve when the SMS reaches it: "before" it takes the message (serve has
    # claimed it and never hears back), or "after" it took it (serve never records it as sent).
    gate.answers.append((moment, lambda: os.kill(serve.process.pid, signal.SIGKILL)))
    serve.start()
    try:
        assert serve.wait(60) == -signal.SIGKILL
        with database.session() as session:
            [row] = session.exec(select(Sms)).all()
            assert (row.state, row.attempts) == ("queued", 1)
        assert len(gate.accepted) == (1 if moment == "after" else 0)
        serve.start()
        wait_until(lambda: count(database, Sms, Sms.state == "sent") == 1, timeout=60, what="the SMS sent")
    finally:
        serve.kill()
    assert len(gate.accepted) == 1
    assert gate.accepted[0]["to"] == "48600100200" and gate.accepted[0]["message"].startswith("DYN-000001")
    assert count(database, EscalationStep) == 1
    assert count(database, Outbox, Outbox.kind == "escalation") == 2
    with database.session() as session:
        [row] = session.exec(select(Sms)).all()
    assert row.attempts == 2
    if moment == "after":
        assert row.last_error == "sent before (idempotent retry)"


STEPS = 300


@pytest.mark.postgres
def test_two_serve_instances_on_postgresql_send_every_sms_once(tmp_path, postgres_test_database_url):
    server = gateway("generic")
    db = open_database(postgres_test_database_url)
    try:
        db.engine.dispose()
        with db.engine.begin() as connection:
            for table in ("sms", "escalation_step", "outbox_content", "outbox", "ticket_event", "message_ref",
                          "attachment", "participant", "message", "ticket", "raw_message", "code_counter"):
                connection.exec_driver_sql(f"DELETE FROM {table}")
        path = write_config(tmp_path, postgres_test_database_url, server.url, provider="http")
        config = load_config(path, env={})
        start = utcnow() - timedelta(minutes=5)
        for number in range(STEPS):
            pipeline.ingest(critical(number), db=db, config=config, now=start, source="test", received_at=start)
        assert count(db, Ticket, Ticket.escalate_at.is_not(None)) == STEPS
        first, second = ServeProcess(path), ServeProcess(path)
        first.start(), second.start()
        try:
            wait_until(lambda: count(db, Sms, Sms.state == "sent") == STEPS, timeout=180, what="every SMS sent",
                       interval=0.5)
        finally:
            # Both, whatever the first answers: a second instance left running would go on
            # working in the database the session's later PostgreSQL tests share.
            try:
                first.stop()
            finally:
                second.stop()
        # Each instance logs the SMS it sent: together every one, once (how they shared them varies).
        shares = [sum("sent through http" in line for line in serve.lines) for serve in (first, second)]
        print(f"SMS sent per instance: {shares}")
        assert sum(shares) == STEPS
        ids = [dict(p.split("=", 1) for p in a["body"].split("&"))["id"] for a in server.accepted]
        assert len(server.requests) == STEPS and len(set(ids)) == STEPS
        assert count(db, EscalationStep) == STEPS
        with db.session() as session:
            steps_by_instance = session.exec(select(func.count(func.distinct(Sms.step_id)))).one()
        assert steps_by_instance == STEPS
    finally:
        server.close()
        db.dispose()
