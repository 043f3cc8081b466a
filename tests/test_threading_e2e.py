"""Threading end to end: real conversations ingested into SQLite and PostgreSQL, file by file.

Each test ingests .eml files from tests/fixtures/threads (see its README) through the whole
pipeline (durable intake, parse, route, thread, store) and checks which ticket each landed on.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlmodel import func, select

from db_support import without_fsync
from mailbridge import pipeline
from mailbridge.sources.files import iter_path
from mailbridge.store import repo
from mailbridge.store.models import Message, Ticket

THREADS = Path(__file__).resolve().parent / "fixtures" / "threads"
NOW = datetime(2026, 2, 12, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(threads_config):
    return threads_config


@pytest.fixture
def ingest(database, config):
    """Ingest fixture files by name (without .eml), in order; returns their outcomes."""

    def run(*names: str):
        outcomes = []
        for name in names:
            [item] = list(iter_path(THREADS / f"{name}.eml"))
            outcomes.append(pipeline.ingest(item.raw, db=database, config=config, now=NOW,
                                            source=item.source, received_at=item.received_at))
        return outcomes if len(outcomes) > 1 else outcomes[0]

    return run


def _ticket(database, code: str) -> Ticket:
    with database.session() as session:
        return repo.ticket_by_code(code, session=session)


def test_first_message_opens_a_ticket_with_requester_and_cc_participants(database, ingest):
    outcome = ingest("original_dynamics_pl")
    assert (outcome.kind, outcome.ticket_code, outcome.queue, outcome.rule) == ("created", "DYN-000001", "dynamics", "new")
    ticket = _ticket(database, "DYN-000001")
    assert ticket.requester == "jan.kowalski@klient.pl"
    assert ticket.subject == "Błąd przy księgowaniu faktury"
    assert ticket.language == "pl"
    with database.session() as session:
        people = {(p.address, p.role) for p in repo.participants_of(ticket.id, session=session)}
    assert people == {("jan.kowalski@klient.pl", "requester"), ("ewa.nowak@klient.pl", "cc")}


def test_gmail_reply_threads_by_the_stored_message_id_in_references(ingest):
    ingest("original_dynamics_pl")
    outcome = ingest("gmail_reply_with_references")
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", "DYN-000001", "stored-reference")
    assert "orig-dyn-1@klient.pl" in outcome.detail


def test_outlook_reply_that_kept_only_the_subject_threads_by_the_code(ingest):
    ingest("original_dynamics_pl")
    outcome = ingest("outlook_reply_without_references")
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", "DYN-000001", "subject-code")
    assert "requester" in outcome.detail


def test_reply_from_a_cc_participant_threads_by_the_code(ingest):
    ingest("original_dynamics_pl")
    outcome = ingest("reply_from_cc_participant")
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", "DYN-000001", "subject-code")
    assert "participant" in outcome.detail


def test_stranger_naming_someone_elses_code_gets_a_new_ticket_not_an_intrusion(database, ingest):
    ingest("original_dynamics_pl")
    outcome = ingest("stranger_with_foreign_ticket_code")
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("created", "DYN-000002", "new")
    assert "ignored DYN-000001" in outcome.detail
    with database.session() as session:
        first = repo.ticket_by_code("DYN-000001", session=session)
        assert len(repo.messages_of(first.id, session=session)) == 1


def test_localised_reply_prefix_chain_is_ignored(ingest):
    ingest("original_dynamics_pl")
    outcome = ingest("re_aw_odp_rv_chain")
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", "DYN-000001", "subject-code")


def test_spanish_rv_re_reply_with_capitalised_sender_threads(ingest):
    first, reply = ingest("original_soporte_es", "respuesta_rv_re_es")
    assert (first.kind, first.ticket_code, first.queue) == ("created", "SOP-000001", "soporte")
    assert (reply.kind, reply.ticket_code, reply.rule) == ("threaded", "SOP-000001", "subject-code")


def test_reply_arriving_before_its_original_ends_on_one_ticket(database, ingest):
    reply = ingest("reply_before_original_reply")
    original = ingest("reply_before_original_original")
    assert reply.kind == "created"
    assert (original.kind, original.ticket_code, original.rule) == ("threaded", reply.ticket_code, "referenced-by")
    with database.session() as session:
        ticket = repo.ticket_by_code(reply.ticket_code, session=session)
        assert len(repo.messages_of(ticket.id, session=session)) == 2


def test_whole_conversation_in_order_lands_on_the_right_tickets(database, ingest):
    outcomes = ingest(
        "original_dynamics_pl", "gmail_reply_with_references", "outlook_reply_without_references",
        "reply_from_cc_participant", "stranger_with_foreign_ticket_code", "re_aw_odp_rv_chain",
        "original_soporte_es", "respuesta_rv_re_es",
    )
    assert [o.ticket_code for o in outcomes] == [
        "DYN-000001", "DYN-000001", "DYN-000001", "DYN-000001", "DYN-000002", "DYN-000001",
        "SOP-000001", "SOP-000001",
    ]
    with database.session() as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == 3


# --- 1,000 replies in shuffled order --------------------------------------------------------

THREAD_COUNT = 100
REPLIES_PER_THREAD = 10


def _conversation(thread: int) -> list[bytes]:
    """One original and its replies, each naming all its ancestors in References (as Gmail does)."""
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC) + timedelta(minutes=thread)
    ids = [f"t{thread}-m{n}@klient.example" for n in range(REPLIES_PER_THREAD + 1)]
    messages = []
    for n, message_id in enumerate(ids):
        headers = [
            f"Received: from mx by mail.example.com; {format_datetime(start + timedelta(hours=n))}",
            f"Message-ID: <{message_id}>",
            f"From: klient{thread}@klient.example",
            "To: pomoc-dynamics@example.com",
            f"Subject: {'Re: ' if n else ''}Sprawa numer {thread}",
        ]
        if n:
            headers += [f"In-Reply-To: <{ids[n - 1]}>", "References: " + " ".join(f"<{i}>" for i in ids[:n])]
        messages.append(("\n".join(headers) + f"\n\nWiadomość {n} w sprawie {thread}.\n").encode())
    return messages


def test_a_thousand_replies_in_shuffled_order_all_land_on_their_thread(database, config):
    without_fsync(database)
    messages = [(thread, raw) for thread in range(THREAD_COUNT) for raw in _conversation(thread)]
    random.Random(20260212).shuffle(messages)
    codes: dict[int, set[str]] = {}
    for thread, raw in messages:
        outcome = pipeline.ingest(raw, db=database, config=config, now=NOW, source="test", received_at=NOW)
        assert outcome.kind in ("created", "threaded"), outcome
        codes.setdefault(thread, set()).add(outcome.ticket_code)
    assert all(len(found) == 1 for found in codes.values()), codes
    assert len({next(iter(found)) for found in codes.values()}) == THREAD_COUNT
    with database.session() as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == THREAD_COUNT
        stored = session.exec(select(func.count()).select_from(Message)).one()
    assert stored == THREAD_COUNT * (REPLIES_PER_THREAD + 1)
