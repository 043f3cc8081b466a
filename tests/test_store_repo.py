"""Data access: ticket codes, participants, references, attachments stored once, duplicate detection."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from mailbridge.parse.model import Attachment as ParsedAttachment
from mailbridge.store import repo, repo_clock
from mailbridge.store.models import Attachment, Blob, Message, MessageRef

NOW = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)


def _ticket(session, requester="Jan.Kowalski@Klient.PL", queue="dynamics", prefix="DYN", now=NOW):
    return repo.create_ticket(
        session=session, queue=queue, code_prefix=prefix, requester=requester, requester_name="Jan",
        subject="Błąd", received_at=now, now=now, language="pl",
    )


def _message(ticket_id, message_id, received_at=NOW) -> Message:
    return Message(ticket_id=ticket_id, message_id=message_id, direction="in", kind="customer",
                   received_at=received_at)


def test_codes_count_up_per_prefix(database):
    with database.session() as session:
        codes = [repo.allocate_code("DYN", session=session) for _ in range(3)]
        codes.append(repo.allocate_code("SOP", session=session))
    assert codes == ["DYN-000001", "DYN-000002", "DYN-000003", "SOP-000001"]
    assert repo.format_code("PBI", 1234567) == "PBI-1234567"


def test_concurrent_code_allocation_never_hands_out_a_code_twice(database):
    workers = 6
    barrier = Barrier(workers)

    def allocate(_):
        barrier.wait()
        codes = []
        for _ in range(5):
            with database.session() as session:
                codes.append(repo.allocate_code("DYN", session=session))
        return codes

    with ThreadPoolExecutor(workers) as pool:
        codes = [code for batch in pool.map(allocate, range(workers)) for code in batch]
    assert sorted(codes) == [repo.format_code("DYN", n) for n in range(1, workers * 5 + 1)]


def test_a_rolled_back_ticket_gives_its_code_back(database):
    with pytest.raises(RuntimeError), database.session() as session:
        _ticket(session)
        raise RuntimeError("store failed after the code was taken")
    with database.session() as session:
        assert _ticket(session).code == "DYN-000001"


def test_a_new_ticket_records_its_requester_lowercased_as_a_participant(database):
    with database.session() as session:
        ticket = _ticket(session)
        people = repo.participants_of(ticket.id, session=session)
    assert ticket.requester == "jan.kowalski@klient.pl"
    assert (ticket.status, ticket.priority, ticket.type) == ("new", "routine", "question")
    assert [(p.address, p.role) for p in people] == [("jan.kowalski@klient.pl", "requester")]


def test_a_participant_is_recorded_once(database):
    with database.session() as session:
        ticket = _ticket(session)
        first = repo.add_participant(ticket.id, "Ewa@Klient.pl", "Ewa", "cc", session=session)
        again = repo.add_participant(ticket.id, "ewa@klient.PL", "Ewa N.", "cc", session=session)
        assert (first, again) == (True, False)
        assert repo.is_participant(ticket.id, "EWA@klient.pl", session=session)
        assert not repo.is_participant(ticket.id, "obcy@example.com", session=session)


def test_a_second_copy_of_a_message_id_is_recognised_as_a_duplicate(database):
    with database.session() as session:
        ticket_id = _ticket(session).id
        session.add(_message(ticket_id, "same@example.com"))
    with pytest.raises(IntegrityError) as caught, database.session() as session:
        session.add(_message(ticket_id, "same@example.com"))
    assert repo.is_duplicate_message_error(caught.value)


def test_other_integrity_errors_are_not_duplicates(database):
    with pytest.raises(IntegrityError) as caught, database.session() as session:
        session.add(_message(999_999, "orphan@example.com"))  # no such ticket: a foreign key error
    assert not repo.is_duplicate_message_error(caught.value)
    assert not repo.is_duplicate_message_error(ValueError("UNIQUE constraint failed: message.message_id"))


def test_references_are_stored_once_each_in_reply_to_first(database):
    with database.session() as session:
        message = _message(_ticket(session).id, "child@example.com")
        session.add(message)
        session.flush()
        repo.add_refs(message.id, in_reply_to=["b@x"], references=["a@x", "b@x", ""], session=session)
        refs = session.exec(select(MessageRef.ref, MessageRef.kind).order_by(MessageRef.id)).all()
    assert [tuple(r) for r in refs] == [("b@x", "in-reply-to"), ("a@x", "references")]


def test_the_same_attachment_on_two_messages_is_stored_once(database):
    pdf = ParsedAttachment("faktura 03/2026.pdf", "application/pdf", 9, "a" * 64, False, None, b"%PDF-1.7\n")
    with database.session() as session:
        ticket_id = _ticket(session).id
        rows = []
        for message_id in ("one@x", "two@x"):
            message = _message(ticket_id, message_id)
            session.add(message)
            session.flush()
            repo.store_attachments(message.id, [pdf], session=session)
            rows.append(message.id)
    with database.session() as session:
        assert session.exec(select(func.count()).select_from(Blob)).one() == 1
        assert session.exec(select(func.count()).select_from(Attachment)).one() == 2
        assert repo.blob_bytes("a" * 64, session=session) == b"%PDF-1.7\n"
        listed = repo.attachments_of(rows, session=session)
        assert [a.safe_name for a in listed[rows[0]]] == ["2026.pdf"]
        assert listed[rows[1]][0].filename == "faktura 03/2026.pdf"


@pytest.mark.parametrize(
    ("filename", "content_type", "safe"),
    [
        ("Faktura_łódź.pdf", "application/pdf", "Faktura_łódź.pdf"),
        ("../../etc/passwd", "text/plain", "passwd"),
        ("C:\\Users\\jan\\zdjęcie 1.jpg", "image/jpeg", "zdjęcie 1.jpg"),
        ("rachunek\x00.exe\r\n", "application/octet-stream", "rachunek_.exe"),
        ("CON.txt", "text/plain", "_CON.txt"),
        ("...", "text/plain", "attachment-3.txt"),
        (None, "image/png", "attachment-3.png"),
        ("", "application/x-unknown-thing", "attachment-3.bin"),
        ("a<b>c:d|e?.docx", "application/octet-stream", "a_b_c_d_e_.docx"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 116 + ".pdf"),
    ],
)
def test_safe_filenames(filename, content_type, safe):
    assert repo.safe_filename(filename, content_type, 3) == safe


def test_tickets_are_listed_newest_first_and_filtered(database):
    with database.session() as session:
        old = _ticket(session, now=NOW)
        new = _ticket(session, now=NOW + timedelta(hours=1))
        other = _ticket(session, queue="soporte", prefix="SOP", now=NOW + timedelta(hours=2))
        new.status = "open"
    with database.session() as session:
        assert [t.code for t in repo.list_tickets(session=session)] == [other.code, new.code, old.code]
        assert [t.code for t in repo.list_tickets(session=session, queue="dynamics")] == [new.code, old.code]
        assert [t.code for t in repo.list_tickets(session=session, status="open")] == [new.code]
        assert repo.ticket_by_code("dyn-000001", session=session).id == old.id
        assert repo.ticket_by_code("DYN-000404", session=session) is None


def test_a_conversation_is_in_received_order(database):
    with database.session() as session:
        ticket_id = _ticket(session).id
        session.add(_message(ticket_id, "later@x", NOW + timedelta(minutes=5)))
        session.add(_message(ticket_id, "earlier@x", NOW))
    with database.session() as session:
        assert [m.message_id for m in repo.messages_of(ticket_id, session=session)] == ["earlier@x", "later@x"]
        assert repo.message_by_message_id("<later@x>", session=session).ticket_id == ticket_id


def test_a_ticket_looked_up_is_the_sessions_object_and_its_changes_are_stored(database):
    with database.session() as session:
        ticket = _ticket(session)
        code, ticket_id = ticket.code, ticket.id
    with database.session() as session:
        by_id = repo.ticket_by_id(ticket_id, session=session)
        assert by_id is repo.ticket_by_id(ticket_id, session=session) \
            is repo.ticket_by_code(code.lower(), session=session)
        assert by_id.received_at == NOW and by_id.status == "new"
        by_id.status, by_id.updated_at = "open", NOW + timedelta(hours=1)
        # Not flushed yet: the lookup by code gives the changed object, not the stored row.
        assert repo.ticket_by_code(code, session=session).status == "open"
        assert repo.ticket_by_id(ticket_id + 1, session=session) is None
        assert repo.ticket_by_code("DYN-000009", session=session) is None
    with database.session() as session:
        stored = repo.ticket_by_code(code, session=session)
        assert (stored.status, stored.updated_at) == ("open", NOW + timedelta(hours=1))
        # The change was logged for the clocks, as for a ticket the ORM loaded.
        assert [(event.kind, event.before, event.after) for event in repo_clock.events_of(stored.id, session=session)] \
            == [("open", "new", "open")]
