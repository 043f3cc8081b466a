"""Tickets agents open for customers (#fwd inline and attached, #phone with its reminder), status by mail, auto-close.

Each test runs the whole pipeline and the agents' tick on SQLite and PostgreSQL with an
injected clock, and a real SMTP sink as the relay.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from agents_support import FIXTURES, NOW, World, plain
from mailbridge.agents import ticks
from smtp_sink import Sink
from zoneinfo import ZoneInfo

WARSAW = ZoneInfo("Europe/Warsaw")
ANNA, PIOTR = "anna.kowalska@example.com", "piotr.nowak@example.com"
LUCIA = "lucia.garcia@example.com"


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()


@pytest.fixture
def world(database, tmp_path, sink):
    return World(database, tmp_path, sink)


def _tick(world: World, now: datetime) -> int:
    world.now = now
    return ticks.run_once(db=world.db, config=world.config, secret=world.config.secret_bytes(), now=now)


def test_fwd_of_an_outlook_inline_forward_opens_the_ticket_for_the_original_sender(world):
    outcome = world.ingest("agent_fwd_outlook_inline_pl.eml")
    assert (outcome.kind, outcome.rule) == ("created", "agent-fwd")
    ticket = world.ticket(outcome.ticket_code)
    assert (ticket.requester, ticket.requester_name, ticket.subject, ticket.opened_by) == (
        "k.wisniewski@hurtownia.pl", "Krzysztof Wiśniewski", "Nie można wysłać JPK", ANNA)
    assert world.participants(outcome.ticket_code) == {("k.wisniewski@hurtownia.pl", "requester"),
                                                       ("biuro@hurtownia.pl", "cc")}
    world.send()
    [ack] = world.to("k.wisniewski@hurtownia.pl")
    assert "Otrzymaliśmy Twoje zgłoszenie: Nie można wysłać JPK" in ack["Subject"]
    # The other agent is told; the one who forwarded it knows already.
    [notice] = world.to(PIOTR)
    assert "błąd 403" in plain(notice) and "#fwd" not in plain(notice)
    assert world.to(ANNA) == []
    assert ticket.next_due_at is not None


def test_fwd_with_the_original_attached_as_thunderbird_does_opens_the_ticket_for_its_sender(world):
    outcome = world.ingest("agent_fwd_thunderbird_attached_es.eml")
    assert (outcome.kind, outcome.rule) == ("created", "agent-fwd")
    ticket = world.ticket(outcome.ticket_code)
    assert (ticket.requester, ticket.subject, ticket.opened_by) == (
        "pedro.ruiz@constructora.co", "Error al generar el informe de nómina", LUCIA)
    assert ("contabilidad@constructora.co", "cc") in world.participants(outcome.ticket_code)
    world.send()
    [ack] = world.to("pedro.ruiz@constructora.co")
    assert "Hemos recibido su solicitud" in ack["Subject"]
    # Placed under the customer's own mail in their client.
    assert ack["In-Reply-To"] == "<CAB-pedro-nomina-77@mail.constructora.co>"
    assert world.to(LUCIA) == [] and "Error 500" in plain(world.to("jorge.ruiz@example.com")[0])


def test_fwd_from_someone_who_is_not_an_agent_is_an_ordinary_new_ticket(world):
    outcome = world.ingest(b"From: Ktos <ktos@klient.pl>\r\nTo: pomoc-dynamics@example.com\r\nSubject: PD: cos\r\n"
                           b"Message-ID: <fwd-stranger@klient.pl>\r\nContent-Type: text/plain\r\n\r\n#fwd\r\n\r\n"
                           b"Od: Jan <jan@x.pl>\r\nTemat: cos\r\n\r\ntresc\r\n")
    assert (outcome.kind, outcome.rule) == ("created", "new")
    assert world.ticket(outcome.ticket_code).requester == "ktos@klient.pl"


def test_phone_ticket_asks_for_written_confirmation_and_reminds_the_agent_after_one_working_day(world):
    # Thursday 3 December 2026, 10:00 in Warsaw: due at the close of Friday.
    outcome = world.ingest("agent_phone_pl.eml")
    assert (outcome.kind, outcome.rule) == ("created", "agent-phone")
    ticket = world.ticket(outcome.ticket_code)
    assert (ticket.requester, ticket.opened_by) == ("marek.zielinski@sklep-zielinski.pl", PIOTR)
    assert ticket.confirm_due_at == datetime(2026, 12, 4, 17, 0, tzinfo=WARSAW)
    world.send()
    [ack] = world.to("marek.zielinski@sklep-zielinski.pl")
    assert "Prosimy o potwierdzenie zgłoszenia" in ack["Subject"]
    body = plain(ack)
    assert "Brak połączenia z kasą" in body and "04.12.2026 17:00" in body and "#telefon" not in body
    assert _tick(world, datetime(2026, 12, 4, 16, 59, tzinfo=WARSAW)) == 0
    assert _tick(world, datetime(2026, 12, 4, 17, 1, tzinfo=WARSAW)) == 1
    world.send()
    [reminder] = [m for m in world.to(PIOTR) if "potwierdzenia" in m["Subject"]]
    assert "marek.zielinski@sklep-zielinski.pl" in plain(reminder)
    # Once only, whoever ticks again.
    assert _tick(world, datetime(2026, 12, 7, 9, 0, tzinfo=WARSAW)) == 0


def test_phone_ticket_over_holidays_and_a_weekend_is_due_at_the_close_of_the_working_day_after_receipt(world):
    # Thursday 24 December 2026: Christmas Eve (a public holiday in Poland since 2025), then the
    # 25th, the 26th and the weekend. Deemed received Monday 28 at 09:00; one working day is Tuesday.
    world.now = datetime(2026, 12, 24, 14, 0, tzinfo=WARSAW)
    outcome = world.ingest("agent_phone_pl.eml")
    assert world.ticket(outcome.ticket_code).confirm_due_at == datetime(2026, 12, 29, 17, 0, tzinfo=WARSAW)


def test_the_customers_written_reply_confirms_the_phone_ticket_and_no_reminder_goes(world):
    outcome = world.ingest("agent_phone_pl.eml")
    world.send()
    [ack] = world.to("marek.zielinski@sklep-zielinski.pl")
    reply = (f"From: marek.zielinski@sklep-zielinski.pl\r\nTo: {ack['Reply-To']}\r\nSubject: Re: {ack['Subject']}\r\n"
             "Message-ID: <marek-ok@sklep-zielinski.pl>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             "Potwierdzam.\r\n").encode()
    world.now = NOW + timedelta(hours=2)
    assert world.ingest(reply).ticket_code == outcome.ticket_code
    assert world.ticket(outcome.ticket_code).confirm_due_at is None
    assert _tick(world, datetime(2026, 12, 8, 9, 0, tzinfo=WARSAW)) == 0


def test_resolved_ticket_closes_by_itself_after_the_configured_days_with_the_closed_mail(world):
    outcome = world.ingest("customer_first_mail_pl_with_invoice_pdf.eml")
    world.send()
    notice = world.to(ANNA)[-1]
    answer = (f"From: {ANNA}\r\nTo: {notice['Reply-To']}\r\nSubject: Re: {notice['Subject']}\r\n"
              "Message-ID: <anna-resolve@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
              "#resolve\r\nGotowe.\r\n").encode()
    world.ingest(answer)
    assert world.ticket(outcome.ticket_code).status == "resolved"
    assert _tick(world, NOW + timedelta(days=6, hours=23)) == 0
    assert _tick(world, NOW + timedelta(days=7, minutes=1)) == 1
    ticket = world.ticket(outcome.ticket_code)
    assert (ticket.status, ticket.closed_at) == ("closed", NOW + timedelta(days=7, minutes=1))
    world.send()
    assert "zamknięte" in world.to("jan.kowalski@klient.pl")[-1]["Subject"]
    assert _tick(world, NOW + timedelta(days=30)) == 0


def test_auto_close_can_be_turned_off(database, tmp_path, sink):
    world = World(database, tmp_path, sink, extra="[agent_mail]\nauto_close_days = 0")
    outcome = world.ingest("customer_first_mail_es.eml")
    with world.db.session() as session:
        from mailbridge import status
        from mailbridge.store import repo
        ticket = repo.ticket_by_code(outcome.ticket_code, session=session)
        status.apply(ticket, "resolve", session=session, config=world.config, secret=world.config.secret_bytes(),
                     now=NOW)
    assert _tick(world, NOW + timedelta(days=365)) == 0
    assert world.ticket(outcome.ticket_code).status == "resolved"


@pytest.mark.parametrize(("subject", "body", "language_word"), [
    ("status", "", "jest"),
    ("Re: [DYN-000001] Status zgłoszenia?", "", "jest"),
    # In Spanish to a Polish queue: answered in the queue's language (it has no other).
    ("Re: [DYN-000001] Błąd przy księgowaniu faktury", "estado", "jest"),
])
def test_the_requester_asks_for_the_status_by_mail_and_gets_it_with_nothing_else(world, subject, body, language_word):
    world.ingest("customer_first_mail_pl_with_invoice_pdf.eml")
    world.send()
    [ack] = world.to("jan.kowalski@klient.pl")
    before = world.ticket("DYN-000001")
    ask = (f"From: Jan Kowalski <jan.kowalski@klient.pl>\r\nTo: {ack['Reply-To']}\r\nSubject: {subject}\r\n"
           f"Message-ID: <jan-status-{abs(hash(subject + body))}@klient.pl>\r\nIn-Reply-To: {ack['Message-ID']}\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n\r\n"
           "> Otrzymaliśmy Twoje zgłoszenie\r\n").encode()
    outcome = world.ingest(ask)
    assert (outcome.kind, outcome.ticket_code) == ("threaded", "DYN-000001")
    world.send()
    [answer] = world.to("jan.kowalski@klient.pl")[1:]
    text = plain(answer)
    assert "DYN-000001" in text and language_word in text
    assert world.to(ANNA)[1:] == [] and world.to(PIOTR)[1:] == []
    after = world.ticket("DYN-000001")
    assert (after.status, after.next_due_at) == (before.status, before.next_due_at)
    assert [m.kind for m in world.messages("DYN-000001")] == ["customer", "system"]


def test_status_from_someone_who_is_not_on_the_ticket_reveals_nothing(world):
    world.ingest("customer_first_mail_pl_with_invoice_pdf.eml")
    world.send()
    ask = (b"From: mallory@evil.example\r\nTo: pomoc-dynamics@example.com\r\nSubject: status\r\n"
           b"Message-ID: <mallory-status@evil.example>\r\nReferences: <CAF-jan-first-0001@mail.klient.pl>\r\n"
           b"Content-Type: text/plain\r\n\r\nstatus\r\n")
    outcome = world.ingest(ask)
    assert outcome.ticket_code == "DYN-000001"
    world.send()
    assert world.to("mallory@evil.example") == []


def test_status_reply_names_the_owner_and_the_next_answer_time(world):
    world.ingest("customer_first_mail_es.eml")
    world.send()
    notice = world.to(LUCIA)[-1]
    take = (f"From: {LUCIA}\r\nTo: {notice['Reply-To']}\r\nSubject: Re: x\r\nMessage-ID: <lucia-take@example.com>\r\n"
            "Content-Type: text/plain\r\n\r\n#tomar\r\n").encode()
    world.ingest(take)
    [ack] = world.to("maria.lopez@empresa.co")
    ask = (f"From: maria.lopez@empresa.co\r\nTo: {ack['Reply-To']}\r\nSubject: Estado\r\n"
           "Message-ID: <maria-estado@empresa.co>\r\nContent-Type: text/plain\r\n\r\n¿Estado?\r\n").encode("utf-8")
    world.ingest(ask)
    world.send()
    text = plain(world.to("maria.lopez@empresa.co")[-1])
    assert "abierta" in text or "recibida" in text
    assert LUCIA in text and "Próxima respuesta a más tardar" in text


def test_where_a_trusted_mta_is_configured_fwd_needs_its_verdict_too(database, tmp_path, sink):
    world = World(database, tmp_path, sink, extra='[listener]\nport = 0\ntrusted_authserv_id = "mx.example.com"')
    refused = world.ingest("agent_fwd_outlook_inline_pl.eml")
    # Recorded as the agent's own mail, as from anyone: no ticket for the forwarded customer.
    assert (refused.kind, refused.rule) == ("created", "new")
    assert world.ticket(refused.ticket_code).requester == ANNA
    world.send()
    assert world.to("k.wisniewski@hurtownia.pl") == []
    [told] = [m for m in world.to(ANNA) if "Nie wysłano" in m["Subject"]]
    assert "mx.example.com" in plain(told)
    signed = (b"Authentication-Results: mx.example.com; dkim=pass header.d=example.com\r\n"
              + (FIXTURES / "agent_fwd_outlook_inline_pl.eml").read_bytes().replace(b"FWD0001", b"FWD0002"))
    accepted = world.ingest(signed)
    assert (accepted.kind, accepted.rule) == ("created", "agent-fwd")
    assert world.ticket(accepted.ticket_code).requester == "k.wisniewski@hurtownia.pl"


def test_a_personal_agent_who_answers_no_queue_is_a_config_problem(tmp_path):
    from mailbridge.config import ConfigError, load_config

    path = tmp_path / "bad.toml"
    path.write_text('[[queues]]\nname = "q"\naddress = "q@example.com"\ncode_prefix = "QQ"\n'
                    'agents = ["a@example.com"]\n[[customers]]\nmatch = ["@x.example"]\nplan = "gold"\n'
                    'agent = "stranger@example.com"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    assert "customers[0].agent: 'stranger@example.com' is not an agent of any queue" in raised.value.problems


def test_fwd_without_a_forwarded_mail_is_kept_and_the_agent_is_told_what_is_missing(world):
    outcome = world.ingest(b"From: Anna Kowalska <anna.kowalska@example.com>\r\nTo: pomoc-dynamics@example.com\r\n"
                           b"Subject: PD: JPK\r\nMessage-ID: <fwd-empty@example.com>\r\n"
                           b"Content-Type: text/plain; charset=utf-8\r\n\r\n#fwd\r\n\r\nKlient prosi o kontakt.\r\n")
    assert outcome.kind == "created" and outcome.rule == "new"
    world.send()
    [told] = [m for m in world.to(ANNA) if "Nie wysłano" in m["Subject"]]
    assert "pod linią #fwd nie znaleziono przekazanej wiadomości" in plain(told)


def test_tickets_show_names_the_agent_who_took_the_call_and_when_confirmation_is_due(world):
    from typer.testing import CliRunner

    from mailbridge.cli import _register, app

    _register()
    outcome = world.ingest("agent_phone_pl.eml")
    shown = CliRunner().invoke(app, ["tickets", "show", outcome.ticket_code, "--config", str(world.config.source)])
    assert shown.exit_code == 0, shown.output
    assert f"opened by agent {PIOTR}" in shown.output and "written confirmation due" in shown.output
    as_json = CliRunner().invoke(app, ["tickets", "show", outcome.ticket_code, "--json",
                                       "--config", str(world.config.source)])
    assert '"opened_by": "piotr.nowak@example.com"' in as_json.output


def test_an_agent_reopens_a_resolved_ticket_with_open_and_the_answer_goes_too(world):
    outcome = world.ingest("customer_first_mail_es.eml")
    world.send()
    notice = world.to(LUCIA)[-1]

    def answer(text: str, message_id: str) -> bytes:
        return (f"From: {LUCIA}\r\nTo: {notice['Reply-To']}\r\nSubject: Re: x\r\nMessage-ID: <{message_id}>\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()

    world.ingest(answer("#resuelto\nListo.", "lucia-1@example.com"))
    assert world.ticket(outcome.ticket_code).status == "resolved"
    world.ingest(answer("#abrir\nPerdón, falta un paso: reinicie el servicio.", "lucia-2@example.com"))
    ticket = world.ticket(outcome.ticket_code)
    assert (ticket.status, ticket.reopened_count) == ("open", 1)
    world.send()
    subjects = [m["Subject"] for m in world.to("maria.lopez@empresa.co")]
    assert sum("Re: [SOP-000001]" in s for s in subjects) == 2 and any("reabierta" in s.lower() for s in subjects)
