"""The pipeline on real databases: duplicates, routing, automatic mail, reopening, agents, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from mailbridge import pipeline
from mailbridge.intake import durable
from mailbridge.store import repo
from mailbridge.store.models import Attachment, Blob, Message, Participant, Quarantine, RawMessage, Ticket
from mailbridge.tokens import our_message_id, ticket_token

THREADS = Path(__file__).resolve().parent / "fixtures" / "threads"
NOW = datetime(2026, 2, 12, 9, 0, tzinfo=UTC)
CUSTOMER = "jan.kowalski@klient.pl"


@pytest.fixture
def config(threads_config):
    return threads_config


@pytest.fixture
def run(database, config):
    """Ingest raw bytes (or a fixture name) through the whole pipeline."""

    def ingest(raw: bytes | str, now: datetime = NOW):
        if isinstance(raw, str):
            raw = (THREADS / f"{raw}.eml").read_bytes()
        return pipeline.ingest(raw, db=database, config=config, now=now, source="test", received_at=now)

    return ingest


def mail(message_id: str | None, *, sender: str = CUSTOMER, to: str = "pomoc-dynamics@example.com",
         subject: str = "Problem z fakturą", extra: str = "", body: str = "Treść.", received: str = "") -> bytes:
    lines = [f"Received: from mx by mail.example.com; {received}"] if received else []
    if message_id:
        lines.append(f"Message-ID: <{message_id}>")
    lines += [f"From: {sender}", f"To: {to}", f"Subject: {subject}", "Date: Thu, 5 Feb 2026 10:00:00 +0100"]
    if extra:
        lines.append(extra.strip())
    return ("\n".join(lines) + f"\nContent-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


def _count(database, model) -> int:
    with database.session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _ticket(database, code: str) -> Ticket:
    with database.session() as session:
        return repo.ticket_by_code(code, session=session)


def _set_status(database, code: str, status: str, when: datetime | None = None) -> Ticket:
    with database.session() as session:
        ticket = repo.ticket_by_code(code, session=session)
        ticket.status = status
        if status == "resolved":
            ticket.resolved_at = when
        if status == "closed":
            ticket.closed_at = when
        session.add(ticket)
    return _ticket(database, code)


def _message(database, message_id: str) -> Message:
    with database.session() as session:
        return repo.message_by_message_id(message_id, session=session)


# --- Storage and duplicates -------------------------------------------------------------------


def test_raw_bytes_are_kept_byte_for_byte_and_attachments_stored(database, run):
    raw = (THREADS / "original_dynamics_pl.eml").read_bytes()
    outcome = run(raw)
    with database.session() as session:
        stored = session.exec(select(RawMessage)).one()
        assert (stored.content, stored.state) == (raw, "done")
        message = repo.message_by_message_id("orig-dyn-1@klient.pl", session=session)
        [attachment] = repo.attachments_of([message.id], session=session)[message.id]
        assert (attachment.filename, attachment.content_type) == ("zrzut ekranu.png", "image/png")
        assert repo.blob_bytes(attachment.sha256, session=session).startswith(b"\x89PNG")
    assert outcome.kind == "created"
    assert (message.kind, message.route_rule, message.thread_rule) == ("customer", "to-header", "new")


def test_same_bytes_twice_are_one_message(database, run):
    raw = mail("twice@klient.pl")
    first, second = run(raw), run(raw)
    assert (first.kind, second.kind, second.rule) == ("created", "duplicate", "same-bytes")
    assert second.ticket_code == first.ticket_code
    assert (_count(database, RawMessage), _count(database, Message)) == (1, 1)


def test_same_message_id_with_other_trace_headers_is_a_duplicate(database, run):
    first = run(mail("relayed@klient.pl", received="Thu, 5 Feb 2026 10:00:01 +0100"))
    again = run(mail("relayed@klient.pl", received="Thu, 5 Feb 2026 10:07:00 +0100"))
    assert (again.kind, again.rule, again.ticket_code) == ("duplicate", "duplicate", first.ticket_code)
    assert (_count(database, RawMessage), _count(database, Message)) == (2, 1)


def test_message_without_message_id_redelivered_is_still_a_duplicate(database, run):
    first = run(mail(None, received="Thu, 5 Feb 2026 10:00:01 +0100"))
    again = run(mail(None, received="Fri, 6 Feb 2026 08:00:00 +0100"))
    assert first.message_id.startswith("derived.") and first.message_id.endswith("@mailbridge.invalid")
    assert (again.kind, again.message_id) == ("duplicate", first.message_id)
    assert _count(database, Message) == 1


def test_attachment_bytes_are_stored_once_across_messages(database, run):
    original = (THREADS / "original_dynamics_pl.eml").read_bytes()
    run(original)
    run(original.replace(b"orig-dyn-1@klient.pl", b"orig-dyn-1-resent@klient.pl"))
    assert (_count(database, Attachment), _count(database, Blob)) == (2, 1)


# --- Routing ------------------------------------------------------------------------------------


def test_two_product_addresses_make_one_ticket_in_the_first_and_note_the_other(database, run):
    outcome = run("two_product_addresses")
    assert (outcome.kind, outcome.queue, outcome.ticket_code) == ("created", "powerbi", "PBI-000001")
    message = _message(database, "two-products-1@klient.pl")
    assert "pomoc-dynamics@example.com" in message.route_detail
    assert _count(database, Ticket) == 1


def test_plus_address_reaches_the_base_queue(run):
    outcome = run("plus_addressed_to_queue")
    assert (outcome.queue, outcome.route_rule) == ("dynamics", "to-header")


def test_mail_to_no_queue_without_catch_all_is_quarantined_at_route(database, run):
    outcome = run("to_unknown_address")
    assert (outcome.kind, outcome.stage) == ("quarantined", "route")
    assert "sprzedaz@example.com" in outcome.error
    assert _count(database, Ticket) == 0
    [entry] = durable.list_quarantine(database)
    assert entry.stage == "route"


# --- Quarantine and retry -------------------------------------------------------------------


def test_failing_stage_quarantines_with_raw_bytes_then_retry_succeeds_once(database, config, run, monkeypatch):
    raw = mail("poisoned@klient.pl")

    def broken(*args, **kwargs):
        raise RuntimeError("thread lookup exploded")

    monkeypatch.setattr(pipeline, "find_thread", broken)
    failed = run(raw)
    after = run(mail("next-in-batch@klient.pl"))
    assert (failed.kind, failed.stage) == ("quarantined", "thread")
    assert "thread lookup exploded" in failed.error
    assert after.kind == "quarantined"  # the whole batch still ran; each message on its own
    [entry, _] = durable.list_quarantine(database)
    assert durable.get_raw(database, entry.raw_id).content == raw
    assert _count(database, Ticket) == 0

    monkeypatch.undo()
    retried = pipeline.retry(entry, db=database, config=config, now=NOW)
    assert (retried.kind, retried.ticket_code) == ("created", "DYN-000001")
    assert durable.get_quarantine(database, entry.id).state == "retried"
    assert durable.get_raw(database, entry.raw_id).state == "done"
    again = pipeline.retry(entry, db=database, config=config, now=NOW)
    assert again.kind == "duplicate"
    assert (_count(database, Ticket), _count(database, Message)) == (1, 1)


def test_a_failure_again_on_retry_keeps_it_held_with_attempts_counted(database, config, run, monkeypatch):
    monkeypatch.setattr(pipeline, "find_thread", lambda *a, **k: 1 / 0)
    run(mail("stubborn@klient.pl"))
    [entry] = durable.list_quarantine(database)
    outcome = pipeline.retry(entry, db=database, config=config, now=NOW)
    assert outcome.kind == "quarantined"
    held = durable.get_quarantine(database, entry.id)
    assert (held.state, held.attempts) == ("held", 2)


def test_dry_run_writes_nothing(database, config):
    before = [_count(database, model) for model in (RawMessage, Ticket, Message, Quarantine)]
    outcome = pipeline.dry_run((THREADS / "original_dynamics_pl.eml").read_bytes(), db=database,
                               config=config, now=NOW, source="test", received_at=NOW)
    unroutable = pipeline.dry_run((THREADS / "to_unknown_address.eml").read_bytes(), db=database,
                                  config=config, now=NOW, source="test", received_at=NOW)
    assert (outcome.kind, outcome.ticket_code) == ("created", "DYN-000001")
    assert unroutable.kind == "quarantined"
    assert [_count(database, model) for model in (RawMessage, Ticket, Message, Quarantine)] == before


# --- Automatic mail -------------------------------------------------------------------------


def test_auto_reply_is_recorded_on_its_ticket_and_never_reopens_it(database, run):
    run("original_dynamics_pl")
    _set_status(database, "DYN-000001", "resolved", NOW)
    outcome = run("out_of_office_pl")
    assert (outcome.kind, outcome.ticket_code) == ("threaded", "DYN-000001")
    ticket = _ticket(database, "DYN-000001")
    assert (ticket.status, ticket.reopened_count) == ("resolved", 0)
    assert _message(database, "ooo-7@klient.pl").kind == "automatic"


def test_auto_reply_answering_no_ticket_is_dropped_but_kept_for_explain(database, run):
    outcome = run("out_of_office_without_ticket")
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("dropped", None, "auto-dropped")
    assert _count(database, Ticket) == 0
    stored = _message(database, "ooo-8@inna-firma.example")
    assert (stored.ticket_id, stored.kind, stored.auto_kind) == (None, "automatic", "auto-reply")
    assert run("out_of_office_without_ticket").kind == "duplicate"


def _bounce(original: str) -> bytes:
    return f"""Message-ID: <dsn-{abs(hash(original))}@mx.klient.pl>
From: Mail Delivery System <MAILER-DAEMON@mx.klient.pl>
To: pomoc-dynamics@example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="r1"

--r1
Content-Type: text/plain

Your message could not be delivered.

--r1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.klient.pl

Final-Recipient: rfc822; {CUSTOMER}
Action: failed
Status: 5.1.1

--r1
Content-Type: text/rfc822-headers

Message-ID: <{original}>
From: pomoc-dynamics@example.com
To: {CUSTOMER}

--r1--
""".encode()


def test_bounce_of_our_mail_goes_on_its_ticket_without_reopening(database, config, run):
    run("original_dynamics_pl")
    ticket = _set_status(database, "DYN-000001", "resolved", NOW)
    ours = our_message_id(ticket.id, config.secret_bytes(), config.message_domain)
    outcome = run(_bounce(ours))
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", "DYN-000001", "report-of")
    assert _ticket(database, "DYN-000001").status == "resolved"


def test_bounce_of_a_message_we_never_stored_is_dropped(database, run):
    outcome = run(_bounce("unknown-original@example.com"))
    assert (outcome.kind, outcome.rule) == ("dropped", "report-dropped")
    assert _count(database, Ticket) == 0


def test_our_own_mail_coming_back_is_dropped(database, config, run):
    ours = our_message_id(None, config.secret_bytes(), config.message_domain)
    outcome = run(mail(ours, sender="pomoc-dynamics@example.com"))
    assert (outcome.kind, outcome.rule) == ("dropped", "our-own-mail")
    assert _count(database, Ticket) == 0


# --- Reopening ------------------------------------------------------------------------------


def test_customer_reply_to_a_resolved_ticket_reopens_it(database, run):
    run("original_dynamics_pl")
    _set_status(database, "DYN-000001", "resolved", NOW - timedelta(days=200))
    outcome = run("gmail_reply_with_references")
    assert (outcome.kind, outcome.ticket_code) == ("threaded", "DYN-000001")
    assert "reopened (was resolved)" in outcome.detail
    ticket = _ticket(database, "DYN-000001")
    assert (ticket.status, ticket.reopened_count, ticket.resolved_at) == ("open", 1, None)


def test_reply_to_a_ticket_closed_within_the_window_reopens_it(database, run):
    run("original_dynamics_pl")
    _set_status(database, "DYN-000001", "closed", NOW - timedelta(days=29))
    outcome = run("gmail_reply_with_references")
    assert (outcome.kind, outcome.ticket_code) == ("threaded", "DYN-000001")
    assert _ticket(database, "DYN-000001").status == "open"


def test_reply_to_a_ticket_closed_long_ago_opens_a_new_linked_ticket(database, run):
    run("original_dynamics_pl")
    old = _set_status(database, "DYN-000001", "closed", NOW - timedelta(days=31))
    outcome = run("gmail_reply_with_references")
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("created", "DYN-000002", "closed-ticket-new")
    assert _ticket(database, "DYN-000002").linked_ticket_id == old.id
    assert _ticket(database, "DYN-000001").status == "closed"


def test_customer_reply_to_a_pending_ticket_makes_it_open(database, run):
    run("original_dynamics_pl")
    _set_status(database, "DYN-000001", "pending")
    run("gmail_reply_with_references")
    assert _ticket(database, "DYN-000001").status == "open"


# --- Agents and participants ----------------------------------------------------------------


def test_agent_reply_with_the_signed_token_is_an_agent_message(database, config, run):
    run("original_dynamics_pl")
    ticket = _ticket(database, "DYN-000001")
    token = ticket_token(ticket.id, config.secret_bytes())
    outcome = run(mail("agent-1@example.com", sender="Anna <anna.agent@example.com>",
                       to=f"pomoc-dynamics+{token}@example.com", subject="Re: pomoc"))
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", "DYN-000001", "reply-token")
    assert _message(database, "agent-1@example.com").kind == "agent"


def test_agent_address_without_a_signed_proof_is_only_a_customer_message(database, run):
    run("original_dynamics_pl")
    outcome = run(mail("agent-2@example.com", sender="anna.agent@example.com",
                       subject="Re: [DYN-000001] Błąd"))
    assert (outcome.ticket_code, outcome.rule) == ("DYN-000001", "subject-code")
    assert _message(database, "agent-2@example.com").kind == "customer"


def test_queue_addresses_are_not_participants_and_agents_are_recorded_as_agents(database, run):
    run(mail("people@klient.pl", to="pomoc-dynamics@example.com, kolega@klient.pl",
             extra="Cc: soporte@example.com, Anna <ANNA.AGENT@example.com>"))
    with database.session() as session:
        roles = {(p.address, p.role) for p in session.exec(select(Participant))}
    assert roles == {(CUSTOMER, "requester"), ("kolega@klient.pl", "cc"), ("anna.agent@example.com", "agent")}


def test_original_arriving_after_its_reply_brings_its_cc_people_onto_the_ticket(database, run):
    run("gmail_reply_with_references")
    original = run("original_dynamics_pl")
    assert original.rule == "referenced-by"
    ewa = run("reply_from_cc_participant")
    assert (ewa.ticket_code, ewa.rule) == (original.ticket_code, "subject-code")
    assert _ticket(database, original.ticket_code).subject == "Błąd przy księgowaniu faktury"


def test_agent_reply_to_a_closed_ticket_neither_reopens_it_nor_opens_another(database, config, run):
    run("original_dynamics_pl")
    ticket = _set_status(database, "DYN-000001", "closed", NOW - timedelta(days=90))
    token = ticket_token(ticket.id, config.secret_bytes())
    outcome = run(mail("agent-3@example.com", sender="anna.agent@example.com",
                       to=f"pomoc-dynamics+{token}@example.com", subject="Re: zamykamy"))
    assert (outcome.kind, outcome.ticket_code) == ("threaded", "DYN-000001")
    assert _ticket(database, "DYN-000001").status == "closed"
    assert _count(database, Ticket) == 1


def test_bytes_accepted_before_a_crash_are_processed_when_delivered_again(database, run):
    raw = mail("crashed@klient.pl")
    row, created = durable.accept_raw(raw, db=database, source="smtp", received_at=NOW)
    assert created and row.state == "pending"
    outcome = run(raw)
    assert (outcome.kind, outcome.ticket_code) == ("created", "DYN-000001")
    assert durable.get_raw(database, row.id).state == "done"
    assert _count(database, RawMessage) == 1
