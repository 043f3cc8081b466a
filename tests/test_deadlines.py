"""Legal-deadline warnings: claimed once, one mail per agent, none for resolved tickets, sent by serve."""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from mailbridge import pipeline, status
from mailbridge.service import deadlines
from mailbridge.config import load_config
from mailbridge.store import repo
from mailbridge.store.models import Outbox, Ticket
from serve_support import ServerThread, wait_until

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sla" / "mailbridge.toml"
BOGOTA = ZoneInfo("America/Bogota")
AGENTS = ("carlos.agente@example.com", "maria.agente@example.com")
# A petition that arrives on Friday 9 January 2026 at 18:00 in Bogota counts from Tuesday 13 January
# (Monday 12 is a holiday); its 15 business days end on Tuesday 3 February at 17:00, and the
# warning comes 2 business days before, on Friday 30 January at 17:00.
RECEIVED = datetime(2026, 1, 9, 18, tzinfo=BOGOTA).astimezone(UTC)
WARN = datetime(2026, 1, 30, 17, tzinfo=BOGOTA).astimezone(UTC)
DEADLINE = datetime(2026, 2, 3, 17, tzinfo=BOGOTA).astimezone(UTC)


@pytest.fixture
def config(database, tmp_path):
    text = FIXTURE.read_text(encoding="utf-8").replace(
        'agents = ["carlos.agente@example.com"]', f"agents = {list(AGENTS)!r}".replace("'", '"'))
    path = tmp_path / "mailbridge.toml"
    path.write_text(text + '\n[listener]\nhost = "127.0.0.1"\nport = 0\n', encoding="utf-8")
    env = {"MAILBRIDGE_TEST_DATABASE_URL": database.url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}
    return load_config(path, env=env)


def petition(message_id: str = "pqr@cliente.co", subject: str = "Derecho de petición") -> bytes:
    return (f"Message-ID: <{message_id}>\nFrom: Lucía Gómez <lucia@cliente.co>\nTo: soporte@example.com\n"
            f"Subject: {subject}\nContent-Type: text/plain; charset=utf-8\n\n"
            "Solicito copia de mi contrato.\n").encode()


@pytest.fixture
def ticket(database, config) -> Ticket:
    pipeline.ingest(petition(), db=database, config=config, now=RECEIVED, source="test", received_at=RECEIVED)
    return stored(database)


def stored(database) -> Ticket:
    with database.session() as session:
        return repo.ticket_by_code("SOP-000001", session=session)


def warnings(database) -> list[Outbox]:
    with database.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == "deadline_warning").order_by(Outbox.id)))


def warn(database, config, now: datetime) -> int:
    return deadlines.warn_due(db=database, config=config, secret=config.secret_bytes(), now=now)


def test_a_petition_near_its_legal_deadline_warns_each_agent_once(database, config, ticket):
    assert (ticket.type, ticket.deadline_at, ticket.deadline_warn_at) == ("petition", DEADLINE, WARN)
    assert warn(database, config, datetime(2026, 1, 30, 16, 59, tzinfo=BOGOTA)) == 0
    assert warn(database, config, WARN) == 2
    assert warn(database, config, WARN) == 0
    assert stored(database).deadline_warn_at is None
    rows = warnings(database)
    assert sorted(row.recipient for row in rows) == list(AGENTS)
    assert {row.intent for row in rows} == {f"deadline:{ticket.id}:2026-02-03T22:00+00:00:{a}" for a in AGENTS}
    mail = email.message_from_bytes(rows[0].content, policy=email.policy.default)
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["From"].addresses[0].addr_spec == "soporte@example.com"
    # The stdlib folds this subject before an encoded word and unfolds it with two spaces.
    subject = " ".join(str(mail["Subject"]).split())
    assert subject == "[SOP-000001] El plazo legal vence el martes 03/02/2026 17:00: petición SOP-000001"
    text = " ".join(mail.get_body(("plain",)).get_content().split())
    assert "plazo legal de respuesta: martes 03/02/2026 17:00" in text
    assert "Tiempo hábil restante: 16h00m" in text
    assert "fijado por la ley" in text


def test_two_ticks_at_the_same_time_queue_each_warning_once(database, config, ticket):
    start, counts = threading.Barrier(2), []

    def tick() -> None:
        start.wait()
        counts.append(warn(database, config, WARN))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(counts) == [0, 2]
    assert len(warnings(database)) == 2


def test_a_resolved_ticket_gets_no_warning(database, config, ticket):
    status.change_status("SOP-000001", "resolve", db=database, config=config, secret=config.secret_bytes(),
                         now=datetime(2026, 1, 20, 10, tzinfo=BOGOTA))
    assert (stored(database).deadline_at, stored(database).deadline_warn_at) == (None, None)
    assert warn(database, config, DEADLINE) == 0
    assert warnings(database) == []


def test_a_later_customer_message_does_not_arm_the_warning_again(database, config, ticket):
    assert warn(database, config, WARN) == 2
    later = datetime(2026, 2, 2, 10, tzinfo=BOGOTA).astimezone(UTC)
    pipeline.ingest(petition("again@cliente.co", "Re: [SOP-000001] Derecho de petición"), db=database,
                    config=config, now=later, source="test", received_at=later)
    assert (stored(database).deadline_at, stored(database).deadline_warn_at) == (DEADLINE, None)
    assert warn(database, config, later) == 0
    assert len(warnings(database)) == 2


def test_a_warning_armed_again_for_the_same_deadline_queues_nothing_twice(database, config, ticket):
    assert warn(database, config, WARN) == 2
    # What a clock refresh racing the claim on another instance could leave behind.
    with database.session() as session:
        again = session.get(Ticket, ticket.id)
        again.deadline_warn_at = WARN
        session.add(again)
    assert warn(database, config, WARN) == 0
    assert stored(database).deadline_warn_at is None and len(warnings(database)) == 2


def test_serve_warns_the_agents_from_its_tick_and_sends_the_mail(database, config, ticket):
    # The petition is from January: by the real clock its warning time has long come.
    with ServerThread(config, database):
        wait_until(lambda: {row.state for row in warnings(database)} == {"sent"} and len(warnings(database)) == 2,
                   what="both warnings sent")
    maildir = config.outbox_maildir / "new"
    sent = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in maildir.iterdir()]
    warned = sorted(str(m["To"]) for m in sent if "plazo legal" in str(m["Subject"]))
    assert warned == list(AGENTS)
