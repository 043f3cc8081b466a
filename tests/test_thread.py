"""Threading rules, one table row per rule and per precedence, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mailbridge.config import QueueConfig
from mailbridge.parse.model import Address, Attachment, ParsedMessage
from mailbridge.route import RouteDecision
from mailbridge.store.models import Message
from mailbridge.store.repo import add_participant, add_refs, create_ticket
from mailbridge.thread import effective_message_id, find_thread, strip_reply_prefixes, subject_codes
from mailbridge.tokens import our_message_id, ticket_token

SECRET = b"thread-tests-secret-0123456789abcdef"
NOW = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
DYNAMICS = QueueConfig(
    name="dynamics", address="pomoc-dynamics@example.com", code_prefix="DYN", language="pl",
    agents=("anna.agent@example.com",),
)
SOPORTE = QueueConfig(
    name="soporte", address="soporte@example.com", code_prefix="SOP", language="es",
    agents=("carlos.agente@example.com",),
)
QUEUES = (DYNAMICS, SOPORTE)
JAN = "jan.kowalski@klient.pl"  # requester of DYN-000001
EWA = "ewa.nowak@klient.pl"  # CC'd on its first message
MARIA = "maria.garcia@cliente.es"  # requester of SOP-000001


def message(**fields) -> ParsedMessage:
    """A customer mail to the dynamics queue; keyword arguments override fields."""
    sender = fields.pop("sender", JAN)
    base = ParsedMessage(
        message_id="new-1@klient.pl", in_reply_to=(), references=(),
        from_=Address("", sender), to=(Address("", DYNAMICS.address),), cc=(), reply_to=(),
        subject="Błąd przy księgowaniu faktury", date=datetime(2026, 2, 2, 9, 0, tzinfo=UTC),
        text="Dzień dobry, faktura się nie księguje.", html=None, reply_text="", attachments=(),
        auto=None, bounce=None, defects=(), language="pl",
    )
    return replace(base, **fields)


def routed(queue: QueueConfig = DYNAMICS) -> RouteDecision:
    return RouteDecision(queue, queue.address, "to-header", f"To: {queue.address}")


def store_message(session, ticket_id, message_id, *, in_reply_to=(), references=()) -> int:
    row = Message(
        ticket_id=ticket_id, message_id=message_id, direction="in", kind="customer", received_at=NOW,
    )
    session.add(row)
    session.flush()
    add_refs(row.id, in_reply_to=in_reply_to, references=references, session=session)
    return row.id


@pytest.fixture
def seeded(database):
    """DYN-000001 (Jan, Ewa CC'd, first message orig-1) and SOP-000001 (María, message es-1)."""
    with database.session() as session:
        dyn = create_ticket(
            session=session, queue="dynamics", code_prefix="DYN", requester=JAN, requester_name="Jan",
            subject="Błąd przy księgowaniu faktury", received_at=NOW, now=NOW,
        )
        add_participant(dyn.id, EWA.upper(), "Ewa", "cc", session=session)
        sop = create_ticket(
            session=session, queue="soporte", code_prefix="SOP", requester=MARIA, requester_name="María",
            subject="Error al facturar", received_at=NOW, now=NOW,
        )
        store_message(session, dyn.id, "orig-1@klient.pl")
        store_message(session, sop.id, "es-1@cliente.es")
    return database, dyn, sop


def decide(database, parsed: ParsedMessage, queue: QueueConfig = DYNAMICS, envelope=()):
    with database.session() as session:
        return find_thread(parsed, routed(queue), session=session, secret=SECRET,
                           envelope_rcpts=envelope, queues=QUEUES)


def test_a_stored_message_id_is_a_duplicate(seeded):
    database, dyn, _ = seeded
    decision = decide(database, message(message_id="<orig-1@klient.pl>"))
    assert (decision.rule, decision.ticket_id) == ("duplicate", dyn.id)
    assert decision.duplicate_of is not None
    assert "<orig-1@klient.pl> is already stored" in decision.detail


def test_a_mail_without_message_id_delivered_twice_is_a_duplicate(seeded):
    database, dyn, _ = seeded
    first = message(message_id=None, headers=(("Received", "from a by b; Mon, 2 Feb 2026 09:00:01"),))
    again = message(message_id=None, headers=(("Received", "from c by d; Mon, 2 Feb 2026 09:07:00"),),
                    text=first.text.replace(".", ".\r\n"))
    derived = effective_message_id(first)
    assert derived.startswith("derived.") and derived.endswith("@mailbridge.invalid")
    assert effective_message_id(again) == derived
    assert effective_message_id(replace(first, text="Inna treść")) != derived
    with database.session() as session:
        store_message(session, dyn.id, derived)
    assert decide(database, again).rule == "duplicate"


@pytest.mark.parametrize("where", ["to", "cc", "envelope"])
def test_a_signed_token_in_a_recipient_sub_address_names_the_ticket(seeded, where):
    database, _, sop = seeded
    tokened = f"soporte+{ticket_token(sop.id, SECRET)}@example.com"
    parsed = message(sender="someone@else.example", subject="hola")
    envelope = ()
    if where == "to":
        parsed = replace(parsed, to=(Address("", tokened),))
    elif where == "cc":
        parsed = replace(parsed, cc=(Address("", tokened),))
    else:
        envelope = (tokened,)
    decision = decide(database, parsed, SOPORTE, envelope)
    assert (decision.rule, decision.ticket_id) == ("reply-token", sop.id)
    assert "SOP-000001" in decision.detail


def test_a_token_lowercased_or_uppercased_by_an_mta_still_works(seeded):
    database, _, sop = seeded
    tokened = f"SOPORTE+{ticket_token(sop.id, SECRET).upper()}@EXAMPLE.COM"
    decision = decide(database, message(to=(Address("", tokened),)), SOPORTE)
    assert (decision.rule, decision.ticket_id) == ("reply-token", sop.id)


def test_a_tampered_token_is_ignored_and_threading_falls_through(seeded):
    database, dyn, sop = seeded
    token = ticket_token(sop.id, SECRET)
    tampered = token[:-1] + ("a" if token[-1] != "a" else "b")
    parsed = message(to=(Address("", f"pomoc-dynamics+{tampered}@example.com"),), subject="pytanie")
    decision = decide(database, parsed)
    assert (decision.rule, decision.ticket_id) == ("new", None)
    assert "is not a valid token" in decision.detail


def test_a_token_made_with_another_secret_is_ignored(seeded):
    database, _, sop = seeded
    foreign = ticket_token(sop.id, b"another-installation-secret-000000")
    decision = decide(database, message(to=(Address("", f"soporte+{foreign}@example.com"),)), SOPORTE)
    assert decision.rule == "new"


@pytest.mark.parametrize("field", ["in_reply_to", "references"])
def test_our_signed_message_id_in_the_references_names_the_ticket(seeded, field):
    database, dyn, _ = seeded
    ours = our_message_id(dyn.id, SECRET, "example.com")
    decision = decide(database, message(**{field: (f"<{ours}>",)}, subject="Re: odpowiedź"))
    assert (decision.rule, decision.ticket_id) == ("our-message-id", dyn.id)


def test_a_gmail_reply_with_references_to_a_stored_message(seeded):
    database, dyn, _ = seeded
    parsed = message(references=("<unknown-0@elsewhere>", "<orig-1@klient.pl>"), subject="Re: faktura")
    decision = decide(database, parsed)
    assert (decision.rule, decision.ticket_id) == ("stored-reference", dyn.id)
    assert "<orig-1@klient.pl> of DYN-000001" in decision.detail


def test_the_nearest_stored_ancestor_wins(seeded):
    database, dyn, sop = seeded
    # References lists the oldest first; In-Reply-To is the direct parent and is preferred.
    parsed = message(in_reply_to=("es-1@cliente.es",), references=("orig-1@klient.pl", "es-1@cliente.es"))
    assert decide(database, parsed).ticket_id == sop.id
    parsed = message(references=("es-1@cliente.es", "orig-1@klient.pl"))
    assert decide(database, parsed).ticket_id == dyn.id


def test_the_token_beats_the_references(seeded):
    database, dyn, sop = seeded
    parsed = message(
        to=(Address("", f"soporte+{ticket_token(sop.id, SECRET)}@example.com"),),
        in_reply_to=("orig-1@klient.pl",),
    )
    assert decide(database, parsed, SOPORTE).rule == "reply-token"
    assert decide(database, parsed, SOPORTE).ticket_id == sop.id


def test_our_message_id_beats_any_stored_message_id(seeded):
    database, dyn, sop = seeded
    parsed = message(in_reply_to=("orig-1@klient.pl",), references=(our_message_id(sop.id, SECRET, "x.example"),))
    assert (decide(database, parsed).rule, decide(database, parsed).ticket_id) == ("our-message-id", sop.id)


def test_references_beat_a_subject_code(seeded):
    database, dyn, sop = seeded
    parsed = message(sender=MARIA, subject="RE: [SOP-000001] Error", references=("orig-1@klient.pl",))
    assert (decide(database, parsed).rule, decide(database, parsed).ticket_id) == ("stored-reference", dyn.id)


def test_a_reply_that_arrived_first_pulls_in_its_original(seeded):
    database, dyn, _ = seeded
    # The reply (stored on a ticket of its own) names the original, which arrives afterwards.
    with database.session() as session:
        store_message(session, dyn.id, "reply-first@klient.pl", in_reply_to=("late-original@klient.pl",))
    decision = decide(database, message(message_id="late-original@klient.pl"))
    assert (decision.rule, decision.ticket_id) == ("referenced-by", dyn.id)
    assert "<reply-first@klient.pl>" in decision.detail


def test_a_sibling_reply_to_a_parent_we_never_stored_joins_its_sibling(seeded):
    database, _, sop = seeded
    with database.session() as session:
        store_message(session, sop.id, "sibling-1@cliente.es", in_reply_to=("agent-direct@cliente.es",))
    decision = decide(database, message(sender=MARIA, in_reply_to=("<agent-direct@cliente.es>",)), SOPORTE)
    assert (decision.rule, decision.ticket_id) == ("shared-reference", sop.id)
    assert decision.detail.endswith("sender is the requester")


def test_a_stranger_answering_the_same_outside_mail_gets_a_ticket_of_their_own(seeded):
    database, _, sop = seeded
    with database.session() as session:
        store_message(session, sop.id, "sibling-1@cliente.es", in_reply_to=("announcement@vendor.example",))
    parsed = message(sender="otro@cliente.example", in_reply_to=("announcement@vendor.example",))
    decision = decide(database, parsed, SOPORTE)
    assert (decision.rule, decision.ticket_id) == ("new", None)
    assert "ignored shared reference <announcement@vendor.example> with SOP-000001" in decision.detail


@pytest.mark.parametrize(
    ("sender", "subject", "role"),
    [
        (JAN, "RE: [DYN-000001] Błąd przy księgowaniu faktury", "requester"),
        ("Jan.Kowalski@KLIENT.pl", "Odp: [DYN-000001] Błąd", "requester"),
        (EWA, "Re: [DYN-000001] Błąd", "participant"),
        ("anna.agent@example.com", "Re: [DYN-000001] Błąd", "agent of the queue"),
        (JAN, "RE: AW: Odp: RV: Fwd: [DYN-000001] Błąd", "requester"),
        (JAN, "re: dyn-000001 błąd, bez nawiasów", "requester"),
    ],
)
def test_a_subject_code_is_accepted_from_people_of_the_ticket(seeded, sender, subject, role):
    database, dyn, _ = seeded
    decision = decide(database, message(sender=sender, subject=subject))
    assert (decision.rule, decision.ticket_id) == ("subject-code", dyn.id)
    assert decision.detail == f"DYN-000001 in the subject, sender is the {role}"


def test_a_stranger_naming_someone_elses_code_opens_a_new_ticket(seeded):
    database, _, _ = seeded
    parsed = message(sender="obcy@inna-firma.example", subject="Re: [DYN-000001] Błąd przy księgowaniu")
    decision = decide(database, parsed)
    assert (decision.rule, decision.ticket_id) == ("new", None)
    assert decision.detail == (
        "no rule matched: a new ticket; ignored DYN-000001 in the subject: obcy@inna-firma.example "
        "is not its requester, a participant or an agent of queue dynamics"
    )


def test_an_agent_of_another_queue_is_a_stranger_to_the_ticket(seeded):
    database, _, _ = seeded
    parsed = message(sender="carlos.agente@example.com", subject="Re: [DYN-000001] Błąd")
    assert decide(database, parsed).rule == "new"


def test_a_code_with_another_queues_prefix_still_finds_its_ticket(seeded):
    database, _, sop = seeded
    # María writes to the dynamics address about her soporte ticket: the code wins.
    decision = decide(database, message(sender=MARIA, subject="RV: RE: [SOP-000001] Error al facturar"))
    assert (decision.rule, decision.ticket_id) == ("subject-code", sop.id)


def test_a_code_of_no_stored_ticket_is_just_text(seeded):
    database, _, _ = seeded
    assert decide(database, message(subject="Re: [DYN-000777] coś")).rule == "new"


def test_a_first_mail_opens_a_new_ticket(seeded):
    database, _, _ = seeded
    decision = decide(database, message())
    assert decision == type(decision)(None, "new", "no rule matched: a new ticket", None)


def test_an_automatic_reply_to_our_message_names_its_ticket_like_any_mail(seeded):
    # Threading does not look at `auto`: the pipeline decides what an out-of-office may do.
    database, dyn, _ = seeded
    ours = our_message_id(dyn.id, SECRET, "example.com")
    from mailbridge.parse.model import AutoVerdict

    parsed = message(auto=AutoVerdict("auto-reply", "Auto-Submitted: auto-replied"), in_reply_to=(ours,))
    assert decide(database, parsed).ticket_id == dyn.id


@pytest.mark.parametrize(
    ("subject", "stripped"),
    [
        ("RE: AW: Odp: RV: Fwd: Błąd", "Błąd"),
        ("Re[2]: Re: hello", "hello"),
        ("PD: TR: WG: FW: SV: VS: Antw: RES: ENC: Rif: x", "x"),
        ("ODP: odp:Faktura", "Faktura"),
        ("Reunión de equipo", "Reunión de equipo"),
        ("Regarding: invoices", "Regarding: invoices"),
        ("RE：全角", "全角"),
    ],
)
def test_reply_prefixes_are_stripped(subject, stripped):
    assert strip_reply_prefixes(subject) == stripped


def test_subject_codes_are_found_bracketed_or_bare_and_once():
    assert subject_codes("Re: [DYN-000123] and DYN-000123, also sop-004567") == ["DYN-000123", "SOP-004567"]
    assert subject_codes("ISBN 978-0000000 X-1234567a DYN-12345") == []


def test_attachments_count_in_the_derived_message_id():
    pdf = Attachment("a.pdf", "application/pdf", 3, "ab" * 32, False, None, b"pdf")
    bare = message(message_id=None)
    assert effective_message_id(bare) != effective_message_id(replace(bare, attachments=(pdf,)))
