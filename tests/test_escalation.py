"""Escalation ladders end to end with an injected clock: the Polish table, business hours, holidays, stops."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from mailbridge import pipeline
from mailbridge.cli import _register, app
from mailbridge.config import load_config
from mailbridge.escalation import tick
from mailbridge.escalation.sms.choose import provider_for
from mailbridge.escalation.sms.sender import deliver_due
from mailbridge.store import repo
from mailbridge.store.models import EscalationStep, Outbox, Sms, Ticket
from mailbridge.tokens import ticket_token

CONFIG = Path(__file__).resolve().parent / "fixtures" / "escalation" / "mailbridge.toml"
WARSAW, BOGOTA = ZoneInfo("Europe/Warsaw"), ZoneInfo("America/Bogota")
ON_CALL, LEAD, ANNA = "+48600100200", "+48602300400", "+48601200300"

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
def escalate(database, config):
    """One tick at `now` and the SMS pass after it; the (ticket, ladder, step) of each step run."""

    def tick_at(now: datetime) -> list[tuple[str, str, int]]:
        before = {row.id for row in steps(database)}
        tick.run_due(db=database, config=config, secret=config.secret_bytes(), now=now)
        deliver_due(db=database, config=config, provider=provider_for(config, clock=lambda: now), clock=lambda: now)
        with database.session() as session:
            codes = dict(session.exec(select(Ticket.id, Ticket.code)).all())
        return [(codes[r.ticket_id], r.ladder, r.step + 1) for r in steps(database) if r.id not in before]

    return tick_at


@pytest.fixture
def cli(env):
    def invoke(*args: str):
        return CliRunner(env=env).invoke(app, [*args, "--config", str(CONFIG)])

    return invoke


def mail(message_id: str, *, sender: str = "jan.kowalski@klient.pl", to: str = "pomoc-dynamics@example.com",
         subject: str = "Problem z fakturą", body: str = "Dzień dobry, faktura się nie zgadza.") -> bytes:
    return (f"Message-ID: <{message_id}>\nFrom: Jan Kowalski <{sender}>\nTo: {to}\nSubject: {subject}\n"
            f"Content-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


def ticket(database, code: str = "DYN-000001") -> Ticket:
    with database.session() as session:
        return repo.ticket_by_code(code, session=session)


def agent_reply(config, database, code: str, message_id: str, *, commands: str = "") -> bytes:
    token = ticket_token(ticket(database, code).id, config.secret_bytes())
    return mail(message_id, sender="anna.agent@example.com", to=f"pomoc-dynamics+{token}@example.com",
                subject=f"Re: [{code}] Problem z fakturą", body=commands + "Dzień dobry, poprawiamy fakturę.")


def steps(database) -> list[EscalationStep]:
    with database.session() as session:
        return list(session.exec(select(EscalationStep).order_by(col(EscalationStep.id))))


def sms_log(config) -> list[dict]:
    path = config.sms_log_path
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def escalation_mail(database) -> list[Outbox]:
    with database.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == "escalation").order_by(col(Outbox.id))))


def body(row: Outbox) -> str:
    parsed = email.message_from_bytes(row.content, policy=email.policy.default)
    return " ".join(parsed.get_body(("plain",)).get_content().split())


def test_a_routine_ticket_unanswered_for_24_hours_gets_mail_again_and_a_short_sms(database, config, run, escalate):
    run(mail("routine@klient.pl"), at("2026-11-23 10:00"))
    assert ticket(database).escalate_at == at("2026-11-23 10:00")
    assert escalate(at("2026-11-23 10:00")) == []
    # The tick worked out the step's time and keeps it on the ticket, by index.
    assert ticket(database).escalate_at == at("2026-11-24 10:00")
    assert escalate(at("2026-11-24 09:59")) == []
    assert escalate(at("2026-11-24 10:00")) == [("DYN-000001", "routine", 1)]
    assert escalate(at("2026-11-24 10:05")) == []
    [row] = steps(database)
    assert row.state == "done"
    assert row.detail == ["e-mail to owner skipped: the ticket has no owner", "e-mail to anna.agent@example.com queued",
                          "sms to owner skipped: the ticket has no owner", f"sms to {ON_CALL} queued"]
    [sent] = sms_log(config)
    assert (sent["to"], sent["ticket"], sent["step"]) == (ON_CALL, "DYN-000001", "routine#1")
    assert sent["text"] == "DYN-000001 dynamics zwykle: bez odpowiedzi 24h00m, po terminie 22h00m. Szczegoly w e-mailu."
    assert sent["at"] == "2026-11-24T09:00:00+00:00"
    [notice] = escalation_mail(database)
    assert notice.recipient == "anna.agent@example.com"
    text = body(notice)
    assert "Zgłoszenie DYN-000001 w dynamics (zwykłe) czeka na odpowiedź od 24h00m." in text
    assert "Termin odpowiedzi (23.11.2026 12:00 (poniedziałek)) minął 22h00m temu." in text
    assert ticket(database).escalate_at is None


def test_an_urgent_ticket_escalates_after_two_hours(database, config, run, escalate):
    run(mail("urgent@klient.pl", subject="PILNE: nie działa logowanie"), at("2026-11-23 10:00"))
    assert ticket(database).priority == "urgent"
    assert escalate(at("2026-11-23 11:59")) == []
    assert escalate(at("2026-11-23 12:00")) == [("DYN-000001", "urgent", 1)]
    assert [s["to"] for s in sms_log(config)] == [ON_CALL]
    assert "pilne" in sms_log(config)[0]["text"]


def test_a_critical_failure_on_sunday_at_three_alerts_at_once_and_the_lead_at_the_target(
        database, config, run, escalate, cli, env):
    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-22 03:00"))
    assert (ticket(database).priority, ticket(database).next_due_at) == ("critical", at("2026-11-22 04:00"))
    assert escalate(at("2026-11-22 03:00")) == [("DYN-000001", "critical", 1)]
    assert [s["to"] for s in sms_log(config)] == [ON_CALL]
    assert {m.recipient for m in escalation_mail(database)} == {"anna.agent@example.com", "dyzur@example.com"}
    assert escalate(at("2026-11-22 03:59")) == []
    assert escalate(at("2026-11-22 04:00")) == [("DYN-000001", "critical", 2)]
    assert [s["to"] for s in sms_log(config)] == [ON_CALL, LEAD]
    assert "KRYTYCZNE" in sms_log(config)[1]["text"]


def test_a_critical_acknowledgement_says_the_truth_about_the_clock_tickets_show_prints(database, run, cli):
    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-21 03:00"))
    with database.session() as session:
        ack = session.exec(select(Outbox).where(Outbox.kind == "ack")).one()
    text = body(ack)
    # No "counts from Monday 09:00": the critical clock runs from arrival, day and night.
    assert "liczymy od" not in text
    assert "zajmujemy się nim całą dobę" in text
    assert "najpóźniej 21.11.2026 04:00 (sobota)" in text
    assert "Właśnie powiadamiamy osobę dyżurną." in text
    assert "w godzinach pracy wsparcia" not in text
    shown = cli("tickets", "show", "DYN-000001", "--now", "2026-11-21T03:30:00+01:00").output
    assert "counts from" not in shown
    assert "due Sat 2026-11-21 04:00" in shown


def test_a_step_due_outside_business_hours_runs_at_the_next_opening(database, config, run, escalate, cli):
    run(mail("friday@klient.pl"), at("2026-11-20 16:00"))
    escalate(at("2026-11-20 16:00"))
    listed = cli("escalations", "list", "--ticket", "DYN-000001", "--json", "--now", "2026-11-20T16:00:00+01:00")
    [due] = [json.loads(line) for line in listed.output.splitlines()]
    assert (due["state"], due["at"], due["due_at"]) == ("due", "2026-11-23T08:00:00+00:00", "2026-11-21T15:00:00+00:00")
    assert due["detail"] == ["outside business hours: runs at the next opening"]
    assert ticket(database).escalate_at == at("2026-11-23 09:00")
    assert escalate(at("2026-11-21 16:00")) == []
    assert escalate(at("2026-11-23 08:59")) == []
    assert escalate(at("2026-11-23 09:00")) == [("DYN-000001", "routine", 1)]


def test_an_agent_answer_stops_the_ladder(database, config, run, escalate, cli):
    run(mail("answered@klient.pl"), at("2026-11-23 10:00"))
    escalate(at("2026-11-23 10:00"))
    # `#open` keeps the ticket open after the answer (a relayed answer alone makes it pending,
    # which pauses the ladder: the next test), so what stops the ladder here is the met clock.
    run(agent_reply(config, database, "DYN-000001", "reply@example.com", commands="#open\n\n"), at("2026-11-23 15:00"))
    assert ticket(database).status == "open"
    assert escalate(at("2026-11-24 10:00")) == []
    assert ticket(database).escalate_at is None and sms_log(config) == []
    listed = cli("escalations", "list", "--ticket", "DYN-000001", "--now", "2026-11-24T10:00:00+01:00").output
    assert "skipped" in listed and "clock met at 2026-11-23T14:00+00:00: not run" in listed


def test_a_relayed_answer_makes_the_ticket_pending_and_pauses_the_ladder(database, config, run, escalate, cli):
    run(mail("answered@klient.pl"), at("2026-11-23 10:00"))
    run(agent_reply(config, database, "DYN-000001", "reply@example.com"), at("2026-11-23 15:00"))
    assert ticket(database).status == "pending"
    assert escalate(at("2026-11-24 10:00")) == [] and sms_log(config) == []
    listed = cli("escalations", "list", "--ticket", "DYN-000001", "--now", "2026-11-24T10:00:00+01:00").output
    assert "the ladder is paused" in listed


def test_a_pending_ticket_does_not_escalate_and_resumes_with_the_customer(database, config, run, escalate, cli):
    run(mail("pending@klient.pl"), at("2026-11-23 10:00"))
    with database.session() as session:
        found = repo.ticket_by_code("DYN-000001", session=session)
        found.status, found.updated_at = "pending", at("2026-11-23 11:00")
        session.add(found)
    assert escalate(at("2026-11-24 10:00")) == []
    assert ticket(database).escalate_at is None
    assert "ladder is paused" in cli("escalations", "list", "--ticket", "DYN-000001").output
    run(mail("again@klient.pl", subject="Re: [DYN-000001] Problem z fakturą"), at("2026-11-25 10:00"))
    escalate(at("2026-11-25 10:00"))
    # One hour counted before the pause, the other 23 from Wednesday 10:00: Thursday 09:00.
    assert ticket(database).escalate_at == at("2026-11-26 09:00")
    assert escalate(at("2026-11-26 09:00")) == [("DYN-000001", "routine", 1)]


def test_christmas_holidays_move_a_step_to_the_next_working_day(database, config, run, escalate):
    # Poland: 24 (from 2025), 25 and 26 December are public holidays, 27 is a Sunday.
    run(mail("xmas@klient.pl"), at("2026-12-23 10:00"))
    escalate(at("2026-12-23 10:00"))
    assert ticket(database).escalate_at == at("2026-12-28 09:00")
    assert escalate(at("2026-12-24 10:00")) == []
    assert escalate(at("2026-12-28 09:00")) == [("DYN-000001", "routine", 1)]


def test_a_step_may_raise_the_priority_and_reassign_and_the_critical_ladder_follows(database, config, run, escalate):
    run(mail("urgent@klient.pl", subject="PILNE: nie działa logowanie"), at("2026-11-23 10:00"))
    escalate(at("2026-11-23 12:00"))
    # First response due 12:00; four business hours later: Tuesday 09:00 (16:00-17:00 and 09:00-...).
    ran = escalate(at("2026-11-24 11:00"))
    assert ran == [("DYN-000001", "urgent", 2), ("DYN-000001", "critical", 1), ("DYN-000001", "critical", 2)]
    raised = ticket(database)
    assert (raised.priority, raised.owner) == ("critical", "kierownik@example.com")
    assert steps(database)[1].detail == ["priority urgent → critical", "owner - → kierownik@example.com"]
    # The owner (now the lead) gets the critical step's SMS, the on-call person too.
    assert LEAD in [s["to"] for s in sms_log(config)] and ON_CALL in [s["to"] for s in sms_log(config)]


def test_a_spanish_ticket_gets_a_spanish_sms(database, config, run, escalate):
    run(mail("es@cliente.co", sender="lucia@cliente.co", to="soporte@example.com",
             subject="Falla crítica en el sistema",
             body="Buenos días, falla crítica."), at("2026-11-23 10:00", BOGOTA))
    escalate(at("2026-11-23 10:00", BOGOTA))
    [sent] = sms_log(config)
    assert sent["text"].startswith("SOP-000001 soporte CRITICA: sin respuesta")
    assert {m.recipient for m in escalation_mail(database)} == {"carlos.agente@example.com", "dyzur@example.com"}
    first = email.message_from_bytes(escalation_mail(database)[0].content, policy=email.policy.default)
    assert "Escalamiento: SOP-000001 (crítica)" in " ".join(str(first["Subject"]).split())


def test_two_ticks_at_the_same_time_run_each_step_once(database, config, run):
    for number in range(5):
        run(mail(f"crit{number}@klient.pl", subject=f"AWARIA KRYTYCZNA {number}"), at("2026-11-22 03:00"))
    start, done = threading.Barrier(2), []

    def one() -> None:
        start.wait()
        done.append(tick.run_due(db=database, config=config, secret=config.secret_bytes(),
                                 now=at("2026-11-22 03:00")).steps)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(done) == 5 and len(steps(database)) == 5
    with database.session() as session:
        assert len(session.exec(select(Sms)).all()) == 5


def test_escalations_run_and_list_from_the_command_line(database, config, run, cli):
    run(mail("urgent@klient.pl", subject="PILNE: nie działa logowanie"), at("2026-11-23 10:00"))
    result = cli("escalations", "run", "--now", "2026-11-23T12:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert "DYN-000001 urgent step 1:" in result.output and "SMS sent 1" in result.output
    listed = cli("escalations", "list").output
    assert "DYN-000001   done     urgent step 1" in listed
    assert f"sms {ON_CALL} sent (attempts 1)" in listed


@pytest.mark.parametrize(("to", "subject", "zone", "wanted", "unwanted"), [
    ("soporte@example.com", "Falla crítica: caída total", BOGOTA,
     ["la atendemos las 24 horas", "a más tardar el sábado 21/11/2026 04:00",
      "Estamos avisando ahora a la persona de guardia."], ["cuenta desde", "dentro del horario de atención"]),
    ("support@example.com", "Critical outage: system down", ZoneInfo("Europe/London"),
     ["we work on it around the clock", "by Saturday 21 Nov 2026 04:00 at the latest",
      "We are alerting the person on call now."], ["counts from", "during our support hours"]),
])
def test_critical_acknowledgements_in_spanish_and_english_agree_with_the_clock(
        database, run, to, subject, zone, wanted, unwanted):
    run(mail("crit@cliente.example", sender="cliente@cliente.example", to=to, subject=subject),
        at("2026-11-21 03:00", zone))
    with database.session() as session:
        ack = session.exec(select(Outbox).where(Outbox.kind == "ack")).one()
    text = body(ack)
    html = email.message_from_bytes(ack.content, policy=email.policy.default).get_body(("html",)).get_content()
    for words in wanted:
        assert words in text and words in " ".join(html.split())
    for words in unwanted:
        assert words not in text


def test_a_routine_acknowledgement_still_says_support_hours_and_counts_from(database, run):
    run(mail("night@klient.pl"), at("2026-11-20 21:14"))
    with database.session() as session:
        text = body(session.exec(select(Outbox).where(Outbox.kind == "ack")).one())
    assert "zgłoszenie liczymy od 23.11.2026 09:00 (poniedziałek)" in text
    assert "w godzinach pracy wsparcia, najpóźniej 23.11.2026 11:00 (poniedziałek)" in text
    assert "dyżurn" not in text


@pytest.fixture
def gate():
    from sms_gateway import gateway

    server = gateway("generic")
    yield server
    server.close()


def http_config(env, tmp_path, gate_url: str):
    path = tmp_path / "http.toml"
    path.write_text(CONFIG.read_text(encoding="utf-8") + f'\n[sms]\nprovider = "http"\nmax_attempts = 3\n'
                    f'[sms.http]\nurl = "{gate_url}"\nform = {{ to = "{{{{ sms.to }}}}" }}\n', encoding="utf-8")
    return load_config(path, env=env)


def test_a_refused_sms_fails_its_step_once_and_the_next_step_still_runs(database, env, tmp_path, run, gate, cli):
    config = http_config(env, tmp_path, gate.url)
    gate.answers.append((400, "invalid recipient"))
    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-22 03:00"))

    def tick_at(now):
        tick.run_due(db=database, config=config, secret=config.secret_bytes(), now=now)
        return deliver_due(db=database, config=config, provider=provider_for(config), clock=lambda: now)

    assert (tick_at(at("2026-11-22 03:00")).failed, len(gate.requests)) == (1, 1)
    assert tick_at(at("2026-11-22 03:30")).failed == 0 and len(gate.requests) == 1
    first, = steps(database)
    assert first.state == "failed" and first.detail[-1] == f"sms to {ON_CALL} failed: HTTP 400: invalid recipient"
    assert tick_at(at("2026-11-22 04:00")).sent == 1
    assert [s.state for s in steps(database)] == ["failed", "done"]
    listed = cli("escalations", "list", "--ticket", "DYN-000001").output
    assert "failed   critical step 1" in listed and "HTTP 400: invalid recipient" in listed


def test_a_gateway_error_is_retried_with_backoff_then_sent(database, env, tmp_path, run, gate):
    config = http_config(env, tmp_path, gate.url)
    gate.answers += [(503, "busy"), (500, "oops")]
    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-22 03:00"))
    tick.run_due(db=database, config=config, secret=config.secret_bytes(), now=at("2026-11-22 03:00"))

    def send_at(text: str):
        now = at(text)
        return deliver_due(db=database, config=config, provider=provider_for(config), clock=lambda: now)

    assert send_at("2026-11-22 03:00").retried == 1
    assert send_at("2026-11-22 03:00:59").retried == 0 and len(gate.requests) == 1
    assert send_at("2026-11-22 03:01").retried == 1           # 1 minute after the first failure
    assert send_at("2026-11-22 03:02:59").sent == 0          # then 2 minutes
    assert send_at("2026-11-22 03:03").sent == 1
    with database.session() as session:
        row = session.exec(select(Sms)).one()
    assert (row.state, row.attempts, len(gate.requests)) == ("sent", 3, 3)


def test_each_customer_message_waiting_for_an_answer_has_its_own_next_response_step(database, config, run, escalate):
    run(mail("first@klient.pl"), at("2026-11-23 10:00"))
    run(agent_reply(config, database, "DYN-000001", "reply1@example.com"), at("2026-11-23 11:00"))
    run(mail("second@klient.pl", subject="Re: [DYN-000001] Problem z fakturą"), at("2026-11-23 12:00"))
    # Next response due 14:00 (2 business hours): the step runs then, once.
    assert escalate(at("2026-11-23 13:59")) == []
    assert escalate(at("2026-11-23 14:00")) == [("DYN-000001", "routine", 2)]
    assert escalate(at("2026-11-23 14:30")) == []
    run(agent_reply(config, database, "DYN-000001", "reply2@example.com"), at("2026-11-23 15:00"))
    run(mail("third@klient.pl", subject="Re: [DYN-000001] Problem z fakturą"), at("2026-11-24 10:00"))
    assert escalate(at("2026-11-24 12:00")) == [("DYN-000001", "routine", 2)]
    assert [s.key.split("@")[1] for s in steps(database)] == ["next_response_due:2026-11-23T11:00:00+00:00",
                                                               "next_response_due:2026-11-24T09:00:00+00:00"]


def test_resolving_the_ticket_ends_its_ladder(database, config, run, escalate):
    from mailbridge import status

    run(mail("resolved@klient.pl", subject="PILNE: nie działa logowanie"), at("2026-11-23 10:00"))
    escalate(at("2026-11-23 10:00"))
    assert ticket(database).escalate_at == at("2026-11-23 12:00")
    status.change_status("DYN-000001", "resolve", db=database, config=config, secret=config.secret_bytes(),
                         now=at("2026-11-23 11:00"))
    assert ticket(database).escalate_at is None
    assert escalate(at("2026-11-23 12:00")) == [] and sms_log(config) == []


def test_an_agent_answering_ok_by_sms_stops_the_ladder_until_a_new_cycle(database, config, run, escalate, cli):
    from mailbridge.escalation import inbound

    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-22 03:00"))
    escalate(at("2026-11-22 03:00"))
    fields = {"sms_from": "48600100200", "sms_text": "ok dyn-1 biorę"}
    answer = inbound.handle(fields, db=database, config=config, now=at("2026-11-22 03:10"))
    assert (answer.status, answer.text) == (200, "acknowledged DYN-000001: its escalation stops")
    assert ticket(database).escalate_at == at("2026-11-22 03:10")
    assert escalate(at("2026-11-22 04:00")) == []
    assert [s["to"] for s in sms_log(config)] == [ON_CALL]
    listed = cli("escalations", "list", "--ticket", "DYN-000001", "--now", "2026-11-22T04:00:00+01:00").output
    assert "acknowledged by dyzur@example.com (+48600100200) by SMS: ok dyn-1 biorę" in listed
    assert "acknowledged by SMS at 2026-11-22T02:10+00:00: not run" in listed


@pytest.mark.parametrize(("fields", "text"), [
    ({"From": "+48999999999", "Body": "OK DYN-000001"}, "ignored: '+48999999999' is not a phone number"),
    ({"From": "+48 611 111 111", "Body": "OK DYN-000001"}, "ignored: +48611111111 is not in [escalation.phones]"),
    ({"From": "+48600100200", "Body": "Kto to?"}, "ignored: not an acknowledgement (OK DYN-000123)"),
    ({"From": "+48600100200", "Body": "OK DYN-000042"}, "ignored: no ticket DYN-000042"),
])
def test_sms_that_are_not_an_agents_acknowledgement_change_nothing(database, config, run, fields, text):
    from mailbridge.escalation import inbound

    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-22 03:00"))
    assert inbound.handle(fields, db=database, config=config, now=at("2026-11-22 03:10")).text == text
    assert steps(database) == []


def test_the_webhook_takes_gateway_callbacks_with_the_token_only(database, env, tmp_path, run):
    import asyncio

    import httpx

    from mailbridge.service import sms_webhook

    path = tmp_path / "inbound.toml"
    path.write_text(CONFIG.read_text(encoding="utf-8") + '\n[sms.inbound]\nlisten = "127.0.0.1:0"\n'
                    'token = "webhook-token-0123456789"\n', encoding="utf-8")
    config = load_config(path, env=env)
    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-22 03:00"))

    async def exchange():
        server = await sms_webhook.start(db=database, config=config)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/sms/inbound"
        try:
            async with httpx.AsyncClient() as client:
                return [
                    await client.post(url, data={"From": "+48600100200", "Body": "OK DYN-000001"}),
                    await client.post(url + "?token=wrong", data={"From": "+48600100200", "Body": "OK DYN-000001"}),
                    await client.post(url.replace("inbound", "other") + "?token=webhook-token-0123456789"),
                    # SMSAPI calls back with GET parameters; Twilio posts a form with a header token here.
                    await client.get(url, params={"token": "webhook-token-0123456789", "sms_from": "48600100200",
                                                  "sms_text": "OK DYN-000001"}),
                    await client.post(url, data={"From": "+48600100200", "Body": "ok [DYN-000001]",
                                                 "AccountSid": "AC1"},
                                      headers={"X-Mailbridge-Token": "webhook-token-0123456789"}),
                ]
        finally:
            server.close()
            await server.wait_closed()

    answers = asyncio.run(exchange())
    assert [a.status_code for a in answers] == [403, 403, 404, 200, 200]
    assert answers[3].text == "acknowledged DYN-000001: its escalation stops\n"
    # Twilio gets empty TwiML: no SMS back.
    assert answers[4].headers["content-type"] == "text/xml" and "<Response></Response>" in answers[4].text
    assert [s.ladder for s in steps(database)] == ["ack", "ack"]


def test_the_webhook_needs_a_real_token(tmp_path, env):
    from mailbridge.config import ConfigError

    path = tmp_path / "inbound.toml"
    path.write_text(CONFIG.read_text(encoding="utf-8") + '\n[sms.inbound]\nlisten = "0.0.0.0:8025"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env=env)
    assert raised.value.problems == ["sms.inbound: a token of at least 16 characters is needed with listen "
                                     "(anyone who can reach the webhook could stop escalations)"]


@pytest.mark.parametrize(("upcoming", "sleep"), [(None, 30), ("2026-11-23 10:00:10", 10), ("2026-11-23 11:00", 30),
                                                 ("2026-11-23 09:00", 0.5)])
def test_serve_wakes_at_the_next_look_it_knows_of_or_every_tick(upcoming, sleep):
    from mailbridge.service.escalations import _sleep

    assert _sleep(30, at(upcoming) if upcoming else None, at("2026-11-23 10:00")) == sleep


def test_only_an_agent_of_the_queue_is_told_to_answer_by_replying(database, config, run, escalate):
    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-22 03:00"))
    escalate(at("2026-11-22 03:00"))
    texts = {row.recipient: body(row) for row in escalation_mail(database)}
    assert "Odpowiedz na tę wiadomość, aby odpowiedzieć klientowi z pomoc-dynamics@example.com." in \
        texts["anna.agent@example.com"]
    assert "Klientowi odpowiadają agenci dynamics; całe zgłoszenie: mailbridge tickets show DYN-000001" in \
        texts["dyzur@example.com"]


def test_a_ladder_is_chosen_by_queue_type_and_plan_and_may_text_a_number(database, env, tmp_path):
    special = '''[[escalation.ladders]]
name = "gold-claims"
queues = ["soporte"]
types = ["claim"]
plans = ["gold"]

[[escalation.ladders.steps]]
after = "1 business hours"
sms = ["+34 612 345 678", "carlos.agente@example.com"]

'''
    text = CONFIG.read_text(encoding="utf-8").replace('[[escalation.ladders]]\nname = "critical"',
                                                      special + '[[escalation.ladders]]\nname = "critical"', 1)
    path = tmp_path / "gold.toml"
    path.write_text(text + '\n[[customers]]\nmatch = ["@oro.example.co"]\nplan = "gold"\n', encoding="utf-8")
    config = load_config(path, env=env)
    when = at("2026-11-23 10:00", BOGOTA)
    pipeline.ingest(mail("claim@oro.example.co", sender="ana@oro.example.co", to="soporte@example.com",
                         subject="Reclamo por factura"), db=database, config=config, now=when, source="test",
                    received_at=when)
    pipeline.ingest(mail("claim@plata.example.co", sender="ana@plata.example.co", to="soporte@example.com",
                         subject="Reclamo por factura"), db=database, config=config, now=when, source="test",
                    received_at=when)
    with database.session() as session:
        gold, other = (repo.ticket_by_code(code, session=session) for code in ("SOP-000001", "SOP-000002"))
    assert (gold.type, gold.plan, other.plan) == ("claim", "gold", None)
    assert config.escalation.ladder_for(queue="soporte", priority=gold.priority, type_="claim", plan="gold").name \
        == "gold-claims"
    assert config.escalation.ladder_for(queue="soporte", priority=other.priority, type_="claim", plan=None).name \
        == "routine"
    tick.run_due(db=database, config=config, secret=config.secret_bytes(), now=at("2026-11-23 11:00", BOGOTA))
    with database.session() as session:
        sent = session.exec(select(Sms).order_by(col(Sms.id))).all()
    assert [(s.ticket_id, s.recipient) for s in sent] == [(gold.id, "+34612345678"), (gold.id, "+573001234567")]


def test_an_agents_reply_to_an_escalation_mail_is_cut_at_its_marker(database, config, run, escalate):
    from mailbridge.parse.quotes import reply_part

    run(mail("critical@klient.pl", subject="AWARIA KRYTYCZNA: system stoi"), at("2026-11-22 03:00"))
    escalate(at("2026-11-22 03:00"))
    texts = {row.recipient: email.message_from_bytes(row.content, policy=email.policy.default)
             .get_body(("plain",)).get_content() for row in escalation_mail(database)}
    assert texts["anna.agent@example.com"].startswith("## Prosimy pisać odpowiedź nad tą linią ##")
    assert "nad tą linią" not in texts["dyzur@example.com"]
    # A client that quotes without '>' (Outlook) still leaves only the answer.
    answer = "Dzień dobry, restartujemy serwer.\n\n" + texts["anna.agent@example.com"]
    assert reply_part(answer).strip() == "Dzień dobry, restartujemy serwer."


def test_a_gateway_that_is_down_costs_three_timeouts_per_pass_not_one_per_sms(database, env, tmp_path, run, gate):
    config = http_config(env, tmp_path, gate.url)
    for number in range(6):
        run(mail(f"crit{number}@klient.pl", subject=f"AWARIA KRYTYCZNA {number}"), at("2026-11-22 03:00"))
    tick.run_due(db=database, config=config, secret=config.secret_bytes(), now=at("2026-11-22 03:00"))
    gate.answers += [(503, "down")] * 6
    now = at("2026-11-22 03:00")
    first = deliver_due(db=database, config=config, provider=provider_for(config), clock=lambda: now)
    assert (first.retried, len(gate.requests)) == (3, 3)
    stopped = deliver_due(db=database, config=config, provider=provider_for(config), clock=lambda: now,
                          stop=lambda: True)
    assert (stopped.retried, len(gate.requests)) == (0, 3)
