"""SLA clocks end to end with an injected clock: ingest, deemed receipt, due times, replies, CLI."""

from __future__ import annotations

import email
import email.policy

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from mailbridge import pipeline, status
from mailbridge.sla import clocks
from mailbridge.cli import _register, app
from mailbridge.config import load_config
from mailbridge.store import repo, repo_clock
from mailbridge.store.models import Outbox, Ticket, TicketEvent
from mailbridge.tokens import ticket_token

CONFIG = Path(__file__).resolve().parent / "fixtures" / "sla" / "mailbridge.toml"
WARSAW, BOGOTA = ZoneInfo("Europe/Warsaw"), ZoneInfo("America/Bogota")
CUSTOMER = "jan.kowalski@klient.pl"

_register()


def at(text: str, zone: ZoneInfo = WARSAW) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


@pytest.fixture
def env(database, tmp_path):
    return {"MAILBRIDGE_TEST_DATABASE_URL": database.url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}


@pytest.fixture
def config(env):
    return load_config(CONFIG, env=env)


@pytest.fixture
def run(database, config):
    def ingest(raw: bytes, when: datetime):
        return pipeline.ingest(raw, db=database, config=config, now=when, source="test", received_at=when)

    return ingest


@pytest.fixture
def cli(env):
    def invoke(*args: str):
        return CliRunner(env=env).invoke(app, [*args, "--config", str(CONFIG)])

    return invoke


def mail(message_id: str, *, sender: str = CUSTOMER, to: str = "pomoc-dynamics@example.com",
         subject: str = "Problem z fakturą", body: str = "Dzień dobry, faktura się nie zgadza.") -> bytes:
    return (f"Message-ID: <{message_id}>\nFrom: {sender}\nTo: {to}\nSubject: {subject}\n"
            f"Content-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


def ticket(database, code: str) -> Ticket:
    with database.session() as session:
        return repo.ticket_by_code(code, session=session)


def agent_reply(config, database, code: str, message_id: str) -> bytes:
    token = ticket_token(ticket(database, code).id, config.secret_bytes())
    return mail(message_id, sender="anna.agent@example.com", to=f"pomoc-dynamics+{token}@example.com",
                subject=f"Re: [{code}] Problem z fakturą", body="Dzień dobry, poprawiamy fakturę.")


def test_friday_night_mail_is_deemed_monday_due_at_11_and_met_by_a_reply_at_10_30(database, config, run, cli):
    run(mail("first@klient.pl"), at("2026-11-20 21:00"))
    opened = ticket(database, "DYN-000001")
    assert opened.received_at == at("2026-11-20 21:00")
    assert opened.deemed_received_at == at("2026-11-23 09:00")
    assert opened.next_due_at == at("2026-11-23 11:00")
    assert (opened.priority, opened.type, opened.plan) == ("routine", "question", None)

    assert cli("tickets", "list", "--overdue", "--now", "2026-11-23T11:01:00+01:00").output.count("DYN-000001") == 1
    run(agent_reply(config, database, "DYN-000001", "reply@example.com"), at("2026-11-23 10:30"))
    answered = ticket(database, "DYN-000001")
    assert answered.next_due_at is None
    with database.session() as session:
        found = clocks.compute(answered, session=session, config=config, now=at("2026-11-23 12:00"))
    first = next(c for c in found.clocks if c.name == "first_response")
    assert (first.state, first.due_at, first.stopped_at) == ("met", at("2026-11-23 11:00"), at("2026-11-23 10:30"))
    assert "DYN-000001" not in cli("tickets", "list", "--overdue", "--now", "2026-11-23T12:00:00+01:00").output

    shown = cli("tickets", "show", "DYN-000001", "--now", "2026-11-23T12:00:00+01:00").output
    assert "received: Fri 2026-11-20 21:00 (Europe/Warsaw)" in shown
    assert "counts from: Mon 2026-11-23 09:00" in shown
    assert "first response   met" in shown and "due Mon 2026-11-23 11:00" in shown


def test_the_acknowledgement_says_when_the_request_counts_from_and_when_to_expect_an_answer(database, run):
    run(mail("first@klient.pl"), at("2026-11-20 21:14"))
    with database.session() as session:
        ack = session.exec(select(Outbox).where(Outbox.kind == "ack")).one()
        parsed = email.message_from_bytes(ack.content, policy=email.policy.default)
        text = " ".join(parsed.get_body(("plain",)).get_content().split())
    assert "Wiadomość dotarła 20.11.2026 21:14 (piątek), poza godzinami pracy wsparcia" in text
    assert "zgłoszenie liczymy od 23.11.2026 09:00 (poniedziałek)" in text
    assert "najpóźniej 23.11.2026 11:00 (poniedziałek)" in text


def test_mail_inside_business_hours_gets_no_counts_from_line(database, run):
    run(mail("first@klient.pl"), at("2026-11-23 10:00"))
    with database.session() as session:
        ack = session.exec(select(Outbox).where(Outbox.kind == "ack")).one()
        text = email.message_from_bytes(ack.content, policy=email.policy.default).get_body(("plain",)).get_content()
    assert "liczymy od" not in text and "najpóźniej 23.11.2026 12:00 (poniedziałek)" in " ".join(text.split())


def test_an_unanswered_ticket_is_overdue_by_index(database, config, run):
    run(mail("a@klient.pl"), at("2026-11-23 09:30"))
    run(mail("b@klient.pl", subject="Inna sprawa"), at("2026-11-23 10:30"))
    with database.session() as session:
        overdue = repo_clock.overdue(session=session, now=at("2026-11-23 11:45"))
    assert [t.code for t in overdue] == ["DYN-000001"]


def test_critical_words_give_a_24_7_clock_hour(database, run):
    run(mail("crit@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-21 03:00"))
    critical = ticket(database, "DYN-000001")
    assert (critical.priority, critical.type) == ("critical", "incident")
    assert critical.deemed_received_at == at("2026-11-23 09:00")   # the queue's calendar
    assert critical.next_due_at == at("2026-11-21 04:00")           # the critical policy's 24/7 hour


def test_pending_pauses_and_a_customer_reply_resumes(database, config, run):
    run(mail("first@klient.pl"), at("2026-11-20 15:00"))
    with database.session() as session:
        found = repo.ticket_by_code("DYN-000001", session=session)
        found.status, found.updated_at = "pending", at("2026-11-20 16:00")
        session.add(found)
    assert ticket(database, "DYN-000001").next_due_at is None
    run(mail("second@klient.pl", subject="Re: [DYN-000001] Problem z fakturą"), at("2026-11-23 10:00"))
    resumed = ticket(database, "DYN-000001")
    # One hour counted on Friday before the pause; the other hour from Monday 10:00.
    assert (resumed.status, resumed.next_due_at) == ("open", at("2026-11-23 11:00"))
    with database.session() as session:
        kinds = [e.kind for e in session.exec(select(TicketEvent).order_by(TicketEvent.id))]
    assert kinds == ["pending", "open"]


def test_resolve_and_reopen_by_command_move_the_clocks(database, config, run, cli):
    run(mail("first@klient.pl"), at("2026-11-23 09:00"))
    run(agent_reply(config, database, "DYN-000001", "reply@example.com"), at("2026-11-23 09:30"))
    status.change_status("DYN-000001", "resolve", db=database, config=config, secret=config.secret_bytes(),
                         now=at("2026-11-23 10:00"))
    assert ticket(database, "DYN-000001").status == "resolved"
    run(mail("again@klient.pl", subject="Re: [DYN-000001] Problem z fakturą"), at("2026-11-27 18:00"))
    reopened = ticket(database, "DYN-000001")
    assert (reopened.status, reopened.next_due_at) == ("open", at("2026-11-30 11:00"))
    with database.session() as session:
        found = clocks.compute(reopened, session=session, config=config, now=at("2026-11-30 10:00"))
    assert [(c.name, c.state) for c in found.clocks] == [("first_response", "met"), ("next_response", "running")]


def test_agents_change_priority_and_type_and_the_clocks_follow(database, config, run, cli):
    run(mail("first@klient.pl"), at("2026-11-21 03:00"))
    result = cli("tickets", "priority", "DYN-000001", "critical", "--now", "2026-11-21T04:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert "DYN-000001 priority: routine -> critical" in result.output
    assert ticket(database, "DYN-000001").next_due_at == at("2026-11-21 04:00")
    assert cli("tickets", "type", "DYN-000001", "petition").exit_code == 0
    petition = ticket(database, "DYN-000001")
    assert petition.deadline_at == at("2026-12-14 17:00")
    assert petition.deadline_warn_at == at("2026-12-10 17:00")
    assert cli("tickets", "priority", "DYN-000001", "high").exit_code == 2
    assert cli("tickets", "type", "DYN-999999", "claim").exit_code == 1
    with database.session() as session:
        changes = [(e.kind, e.before, e.after) for e in repo_clock.events_of(petition.id, session=session)]
    assert changes == [("priority", "routine", "critical"), ("type", "question", "petition")]


def test_a_colombian_petition_has_its_legal_deadline(database, run):
    run(mail("pqr@cliente.co", to="soporte@example.com", subject="Derecho de petición",
             body="Solicito copia de mi contrato."), at("2026-01-09 18:00", BOGOTA))
    petition = ticket(database, "SOP-000001")
    assert petition.type == "petition"
    assert petition.deemed_received_at == at("2026-01-13 09:00", BOGOTA)   # Monday 12 January is a holiday
    assert petition.deadline_at == at("2026-02-03 17:00", BOGOTA)
    with database.session() as session:
        warnings = repo_clock.deadline_warnings_due(session=session, now=at("2026-01-30 17:00", BOGOTA))
    assert [t.code for t in warnings] == ["SOP-000001"]


def test_a_status_command_leaves_the_due_time_right_in_its_own_transaction(database, config, run, cli, monkeypatch):
    run(mail("first@klient.pl"), at("2026-11-23 09:00"))
    assert cli("tickets", "priority", "DYN-000001", "urgent").exit_code == 0
    status.change_status("DYN-000001", "resolve", db=database, config=config, secret=config.secret_bytes(),
                         now=at("2026-11-23 10:00"))
    assert ticket(database, "DYN-000001").next_due_at is None
    status.change_status("DYN-000001", "reopen", db=database, config=config, secret=config.secret_bytes(),
                         now=at("2026-11-24 10:00"))
    # No separate refresh: the urgent policy's second resolution cycle is due right after the command.
    reopened = ticket(database, "DYN-000001")
    with database.session() as session:
        expected = clocks.compute(reopened, session=session, config=config, now=at("2026-11-24 10:00")).next_due
    assert reopened.next_due_at == expected == at("2026-11-26 17:00")

    # A failure after the clocks were refreshed (here: queuing the mail) undoes the change, its
    # event and the due time together.
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(status.notify, "queue_mail", broken)
    with pytest.raises(RuntimeError):
        status.change_status("DYN-000001", "resolve", db=database, config=config, secret=config.secret_bytes(),
                             now=at("2026-11-24 11:00"))
    after = ticket(database, "DYN-000001")
    assert (after.status, after.next_due_at) == ("open", at("2026-11-26 17:00"))
    with database.session() as session:
        kinds = [e.kind for e in repo_clock.status_events(after.id, session=session)]
    assert kinds == ["resolved", "reopened"]

    monkeypatch.undo()
    result = cli("tickets", "resolve", "DYN-000001")
    assert result.exit_code == 0, result.output
    assert ticket(database, "DYN-000001").next_due_at is None
