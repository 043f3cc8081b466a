"""Outgoing mail end to end: the pipeline queues it, the outbox worker sends it to a real SMTP sink.

Every test here runs on SQLite and PostgreSQL, with an aiosmtpd server on loopback as the relay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlmodel import func, select

from mailbridge import pipeline, status
from mailbridge.outgoing import outbox
from mailbridge.config import load_config
from mailbridge.outgoing.outbox_worker import OutboxWorker
from mailbridge.store import repo
from mailbridge.store.models import AddressHealth, Outbox, OutboxContent
from mailbridge.tokens import is_our_message_id
from tests.smtp_sink import Sink, free_port

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "outgoing"
NOW = datetime(2026, 2, 12, 9, 0, tzinfo=UTC)
SECRET = "outgoing-tests-secret-0123456789abcdef"
QUEUES = """
[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"
language = "pl"
display_name = "Pomoc Dynamics"
agents = ["anna.agent@example.com"]

[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
language = "es"
display_name = "Soporte Técnico"

[[queues]]
name = "support"
address = "support@example.com"
code_prefix = "SUP"
language = "en"
"""


class World:
    """One mailbridge (config, database) whose relay is a sink on loopback, with a settable clock."""

    def __init__(self, database, tmp_path: Path, sink: Sink, *, queues: str = QUEUES, secret: str = SECRET) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        path = tmp_path / "mailbridge.toml"
        path.write_text(
            f'[mailbridge]\nstate_dir = "{tmp_path / "state"}"\nsecret = "{secret}"\n'
            f'[database]\nurl = "{database.url}"\n'
            f'[outbox]\nrelay_host = "127.0.0.1"\nrelay_port = {sink.port}\nrelay_tls = "none"\n'
            f'relay_timeout_seconds = 5\n{queues}',
            encoding="utf-8",
        )
        self.config = load_config(path, env={})
        self.db = database
        self.sink = sink
        self.now = NOW
        self.worker = OutboxWorker(db=database, config=self.config, clock=lambda: self.now)

    def ingest(self, raw: bytes | str, envelope_from: str | None = None):
        if isinstance(raw, str):
            raw = (FIXTURES / raw).read_bytes()
        return pipeline.ingest(raw, db=self.db, config=self.config, now=self.now, source="test",
                               received_at=self.now, envelope_from=envelope_from)

    def send(self) -> int:
        return self.worker.drain()

    def rows(self, **where) -> list[Outbox]:
        with self.db.session() as session:
            statement = select(Outbox).order_by(Outbox.id)
            for key, value in where.items():
                statement = statement.where(getattr(Outbox, key) == value)
            return list(session.exec(statement))

    def to(self, address: str):
        return [r for r in self.sink.received if r.rcpt_tos == [address]]


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()


@pytest.fixture
def world(database, tmp_path, sink):
    return World(database, tmp_path, sink)


def customer_mail(*, sender: str, to: str, subject: str, body: str, message_id: str, extra: str = "") -> bytes:
    headers = [f"Message-ID: <{message_id}>", f"From: {sender}", f"To: {to}", f"Subject: {subject}",
               "Date: Thu, 12 Feb 2026 09:55:00 +0100", "MIME-Version: 1.0",
               "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    if extra:
        headers.append(extra)
    return ("\r\n".join(headers) + f"\r\n\r\n{body}\r\n").encode("utf-8")


# --- Acknowledgements in three languages --------------------------------------------------------

ACKS = [
    ("polish_first_mail_to_dynamics.eml", "DYN-000001", "Pomoc Dynamics", "pomoc-dynamics",
     "Otrzymaliśmy Twoje zgłoszenie: Błąd przy księgowaniu faktury", "zarejestrowane pod numerem DYN-000001",
     "po prostu\nodpowiedz na tę wiadomość"),
    ("spanish_first_mail_to_soporte.eml", "SOP-000001", "Soporte Técnico", "soporte",
     "Hemos recibido su solicitud: No puedo acceder a la factura electrónica", "con el número SOP-000001",
     "simplemente responda a este correo"),
    ("english_first_mail_to_support.eml", "SUP-000001", "support", "support",
     "We have received your request: Export to Excel fails", "registered as\nticket SUP-000001",
     "just reply to\nthis email"),
]


@pytest.mark.parametrize(("fixture", "code", "label", "local", "subject", "registered", "reply_hint"), ACKS)
def test_acknowledgement_headers_and_body(world, fixture, code, label, local, subject, registered, reply_hint):
    outcome = world.ingest(fixture)
    assert (outcome.kind, outcome.ticket_code) == ("created", code)
    assert world.send() >= 1
    [received] = world.to(_customer(fixture))
    mail = received.message
    assert received.mail_from == f"{local}@example.com"
    assert parseaddr(mail["From"]) == (label, f"{local}@example.com")
    assert mail["Subject"] == f"[{code}] {subject}"
    reply_to = parseaddr(mail["Reply-To"])[1]
    assert reply_to.startswith(f"{local}+") and reply_to.endswith("@example.com")
    assert is_our_message_id(mail["Message-ID"], SECRET.encode())
    assert mail["Message-ID"].strip("<>").endswith("@example.com")
    original = f"<{outcome.message_id}>"
    assert (mail["In-Reply-To"], mail["References"]) == (original, original)
    assert (mail["Auto-Submitted"], mail["X-Auto-Response-Suppress"], mail["Precedence"]) == (
        "auto-replied", "All", "bulk")
    assert mail["X-Loop"] == f"{local}@example.com"
    body = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert code in body and registered in body and reply_hint in body


def _customer(fixture: str) -> str:
    raw = (FIXTURES / fixture).read_text(encoding="utf-8")
    line = next(line for line in raw.splitlines() if line.startswith("From:"))
    return parseaddr(line[5:])[1].lower()


def test_the_agents_of_the_queue_are_notified_of_a_new_ticket_and_of_each_reply(world):
    world.ingest("polish_first_mail_to_dynamics.eml")
    world.ingest(customer_mail(sender="jan.kowalski@klient.pl", to="pomoc-dynamics@example.com",
                               subject="Re: [DYN-000001] Błąd", body="Jeszcze jedno.", message_id="second@klient.pl"))
    world.send()
    notices = [r.message for r in world.to("anna.agent@example.com")]
    assert [n["Subject"].split("]")[0] + "]" for n in notices] == ["[DYN-000001]", "[DYN-000001]"]
    assert notices[0]["Subject"].startswith("[DYN-000001] Nowe zgłoszenie od Jan Kowalski")
    assert notices[1]["Subject"].startswith("[DYN-000001] Odpowiedź klienta: ")
    assert "Jeszcze jedno." in notices[1].get_body(("plain",)).get_content()
    assert notices[0]["Auto-Submitted"] == "auto-generated"
    # The follow-up got no second acknowledgement.
    assert len(world.to("jan.kowalski@klient.pl")) == 1


# --- Threading through the Reply-To token ------------------------------------------------------


def test_an_outlook_reply_without_references_threads_through_the_reply_to_token(world):
    first = world.ingest("polish_first_mail_to_dynamics.eml")
    world.send()
    [ack] = world.to("jan.kowalski@klient.pl")
    reply_to = parseaddr(ack.message["Reply-To"])[1]
    template = (FIXTURES / "outlook_reply_to_ack_without_references.eml").read_bytes()
    outcome = world.ingest(template.replace(b"REPLY_TO_ADDRESS", reply_to.encode()))
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", first.ticket_code, "reply-token")
    assert len(world.rows(kind="ack")) == 1


# --- Relay trouble ------------------------------------------------------------------------------


def test_relay_down_for_a_while_then_back_delivers_every_acknowledgement_once(database, tmp_path):
    port = free_port()
    world = World(database, tmp_path, Sink(port))  # not started: connections are refused
    for n in range(5):
        world.ingest(customer_mail(sender=f"klient{n}@firma.pl", to="pomoc-dynamics@example.com",
                                   subject=f"Zgłoszenie {n}", body="Treść.", message_id=f"down-{n}@firma.pl"))
    for minutes in (0, 1, 3):
        world.now = NOW + timedelta(minutes=minutes)
        assert world.send() == 0
    acks = world.rows(kind="ack")
    assert {(r.state, r.attempts) for r in acks} == {("queued", 3)}
    assert "ConnectionRefusedError" in acks[0].last_error
    world.sink.start()
    try:
        world.now = NOW + timedelta(minutes=10)
        assert world.send() == 10  # five acknowledgements and five agent notices
        world.now = NOW + timedelta(hours=2)
        assert world.send() == 0
    finally:
        world.sink.stop()
    recipients = sorted(r.rcpt_tos[0] for r in world.sink.received if r.message["Auto-Submitted"] == "auto-replied")
    assert recipients == [f"klient{n}@firma.pl" for n in range(5)]
    assert {r.state for r in world.rows()} == {"sent"}


def test_a_temporary_refusal_is_retried_with_backoff_and_a_5xx_fails_for_good(world):
    world.sink.handler.data_replies = ["451 4.3.0 try again later"]
    world.ingest("english_first_mail_to_support.eml")
    assert world.send() == 0
    [ack] = world.rows(kind="ack")
    assert (ack.state, ack.attempts, ack.next_attempt_at) == ("queued", 1, NOW + outbox.backoff(1))
    assert world.send() == 0  # not due yet
    world.now = NOW + timedelta(minutes=1)
    assert world.send() == 1
    world.sink.handler.rcpt_reply = "550 5.1.1 no such user"
    world.ingest("polish_first_mail_to_dynamics.eml")
    world.send()
    failed = world.rows(state="failed")
    assert {r.kind for r in failed} == {"ack", "agent_new"}
    assert "550 5.1.1 no such user" in failed[0].last_error
    world.sink.handler.rcpt_reply = None
    assert outbox.release(world.db, [r.id for r in failed], world.now) == 2
    assert world.send() == 2


# --- Bounces ------------------------------------------------------------------------------------


def test_a_permanent_bounce_of_our_ack_marks_the_address_and_holds_the_next_ack(world):
    world.ingest("english_first_mail_to_support.eml")
    world.send()
    [ack] = world.rows(kind="ack")
    dsn = (FIXTURES / "dsn_for_our_ack_5_1_1.eml").read_bytes().replace(b"OUR_MESSAGE_ID", ack.message_id.encode())
    outcome = world.ingest(dsn, envelope_from="")
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", "SUP-000001", "report-of")
    with world.db.session() as session:
        health = session.get(AddressHealth, "mary.smith@customer.example")
    assert health.undeliverable_until == NOW + timedelta(days=7)
    assert health.last_status == "5.1.1"
    assert world.rows(kind="ack")[0].state == "bounced"
    world.ingest(customer_mail(sender="mary.smith@customer.example", to="support@example.com",
                               subject="Another question", body="Hi.", message_id="another@customer.example"))
    second = world.rows(kind="ack")[1]
    assert second.state == "held" and second.last_error.startswith("undeliverable until")
    # The DSN itself got no answer: one acknowledgement sent, none to the mailer-daemon.
    assert len(world.sink.received) == 1


def test_a_delay_notice_is_only_recorded(world):
    world.ingest("english_first_mail_to_support.eml")
    world.send()
    [ack] = world.rows(kind="ack")
    dsn = (FIXTURES / "dsn_for_our_ack_4_4_1_delayed.eml").read_bytes().replace(
        b"OUR_MESSAGE_ID", ack.message_id.encode())
    outcome = world.ingest(dsn, envelope_from="")
    assert (outcome.kind, outcome.ticket_code) == ("threaded", "SUP-000001")
    with world.db.session() as session:
        assert session.get(AddressHealth, "mary.smith@customer.example") is None
        ticket = repo.ticket_by_code("SUP-000001", session=session)
    assert ticket.status == "new"
    assert world.rows(kind="ack")[0].state == "sent"


# --- Status commands ----------------------------------------------------------------------------


def test_resolve_close_and_reopen_send_the_matching_mail(world):
    world.ingest("spanish_first_mail_to_soporte.eml")
    world.send()
    secret = SECRET.encode()
    for action, expected in (("resolve", "Su solicitud ha sido resuelta"), ("reopen", "ha sido reabierta"),
                             ("resolve", "Su solicitud ha sido resuelta"), ("close", "ha sido cerrada")):
        change = status.change_status("SOP-000001", action, db=world.db, config=world.config, secret=secret,
                                      now=world.now)
        assert change.mail_queued
        world.send()
        last = world.to("lucia.cliente@empresa.es")[-1].message
        assert expected in last["Subject"] and last["Subject"].startswith("[SOP-000001]")
        assert last["Auto-Submitted"] == "auto-generated"
    assert len(world.to("lucia.cliente@empresa.es")) == 5  # the acknowledgement and four status mails
    with pytest.raises(status.StatusError, match="SOP-000001 is closed: cannot resolve it"):
        status.change_status("SOP-000001", "resolve", db=world.db, config=world.config, secret=secret, now=world.now)


# --- Loops --------------------------------------------------------------------------------------


def test_a_naive_auto_responder_that_writes_new_mail_each_time_is_stopped_by_the_rate_limit(world):
    """The worst responder: no RFC 3834 headers, a fresh subject and Message-ID, to our base address.

    Each of its answers looks like a customer's first mail and opens a ticket; the per-recipient
    limit (10 in 3 hours) holds our 11th acknowledgement, and with nothing sent, it stops.
    """
    world.ingest(customer_mail(sender="robot@shop.example", to="support@example.com", subject="Order 1",
                               body="Order received.", message_id="robot-0@shop.example"))
    for turn in range(1, 30):
        if world.send() == 0:
            break
        ours = world.sink.received[-1].message
        world.ingest(customer_mail(sender="robot@shop.example", to="support@example.com",
                                   subject=f"Thank you for your message #{turn}", body=f"Got: {ours['Subject']}",
                                   message_id=f"robot-{turn}@shop.example"))
    assert len(world.to("robot@shop.example")) == 10
    held = world.rows(state="held")
    assert len(held) == 1 and held[0].last_error.startswith("rate limit: 10 automatic mails in the last 3 h")


def test_an_rfc3834_auto_responder_gets_one_acknowledgement_and_the_exchange_stops(world):
    world.ingest(customer_mail(sender="vacation@shop.example", to="support@example.com", subject="Hello",
                               body="Hi.", message_id="person@shop.example"))
    world.send()
    ours = world.sink.received[-1].message
    outcome = world.ingest(customer_mail(
        sender="vacation@shop.example", to=parseaddr(ours["Reply-To"])[1], subject=f"Out of office: {ours['Subject']}",
        body="I am away.", message_id="vacation-1@shop.example", extra="Auto-Submitted: auto-replied"))
    assert (outcome.kind, outcome.ticket_code) == ("threaded", "SUP-000001")
    assert world.send() == 0
    assert len(world.sink.received) == 1


def test_two_mailbridges_answering_each_other_stop_by_themselves(database, tmp_path, sink):
    """B's customer is A's queue address: B acknowledges, A sees automatic mail and answers nothing."""
    from mailbridge.store.db import open_database

    a = World(database, tmp_path / "a", sink, queues=_queue("a", "help@vendor.example", "AAA"))
    b_db = open_database(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    try:
        b = World(b_db, tmp_path / "b", sink, queues=_queue("b", "pomoc@b.example", "BBB"),
                  secret="another-mailbridge-secret-0123456789")
        b.ingest(customer_mail(sender="help@vendor.example", to="pomoc@b.example", subject="Licencja",
                               body="Prośba o licencję.", message_id="start@vendor.example"))
        for _ in range(5):
            if b.send() + a.send() == 0:
                break
            while sink.received:
                mail = sink.received.pop(0)
                target = a if mail.rcpt_tos[0].endswith("@vendor.example") else b
                target.ingest(mail.content, envelope_from=mail.mail_from)
        assert [(r.kind, r.recipient, r.state) for r in b.rows()] == [("ack", "help@vendor.example", "sent")]
        assert a.rows() == []
    finally:
        b_db.dispose()


def _queue(name: str, address: str, prefix: str) -> str:
    return f'[[queues]]\nname = "{name}"\naddress = "{address}"\ncode_prefix = "{prefix}"\nlanguage = "pl"\n'


# --- Batches: claimed and recorded together, a stop gives the untried back -----------------------

def _many_customers(world: World, count: int) -> None:
    for n in range(count):
        world.ingest(customer_mail(sender=f"klient{n}@example.org", to="soporte@example.com",
                                   subject=f"Consulta {n}", body="Hola", message_id=f"batch-{n}@example.org"))


def test_more_mail_than_one_batch_is_all_sent_once(world):
    from mailbridge.outgoing.outbox_worker import CLAIM_BATCH

    _many_customers(world, CLAIM_BATCH + 5)
    assert world.send() == CLAIM_BATCH + 5
    assert len(world.rows(state="sent")) == CLAIM_BATCH + 5 and world.rows(state="queued") == []
    assert sorted(r.rcpt_tos[0] for r in world.sink.received) == sorted(
        f"klient{n}@example.org" for n in range(CLAIM_BATCH + 5))
    assert {row.attempts for row in world.rows()} == {1}


def test_a_stop_in_the_middle_of_a_batch_gives_the_untried_mail_back_due_now(world):
    _many_customers(world, 5)
    tried = []
    real_deliver = world.worker._deliver

    def deliver(row):
        tried.append(row.id)
        return real_deliver(row)

    world.worker._deliver = deliver
    assert world.worker.drain(should_stop=lambda: len(tried) >= 2) == 2
    untried = world.rows(state="queued")
    assert len(world.rows(state="sent")) == 2 and len(untried) == 3
    assert [(row.attempts, row.next_attempt_at) for row in untried] == [(0, world.now)] * 3
    assert world.send() == 3 and len(world.sink.received) == 5


def test_a_transport_that_deduplicates_is_flushed_before_its_batch_is_recorded_in_one_commit(world):
    _many_customers(world, 3)
    queued = len(world.rows(state="queued"))
    events: list[tuple[str, int]] = []

    class Folder:
        deduplicates = True

        def send(self, mail_from: str, recipient: str, content: bytes) -> str:
            events.append(("send", len(world.rows(state="sent"))))
            return "folder"

        def flush(self) -> None:
            events.append(("flush", len(world.rows(state="sent"))))

    worker = OutboxWorker(db=world.db, config=world.config, transport=Folder(), clock=lambda: world.now)
    assert worker.drain() == queued
    # Nothing is recorded until every mail of the batch is written and flushed, then all at once.
    assert events == [("send", 0)] * queued + [("flush", 0)]
    assert len(world.rows(state="sent")) == queued


def test_two_senders_draining_at_once_send_each_mail_once(world):
    # Two instances on one database: each claim takes rows no other claim holds (SKIP LOCKED on
    # PostgreSQL, the write lock on SQLite), so no mail is handed to two transports.
    import threading

    _many_customers(world, 12)
    queued = len(world.rows(state="queued"))
    delivered: list[bytes] = []

    class Counting:
        def send(self, mail_from: str, recipient: str, content: bytes) -> str:
            delivered.append(content)
            return "counted"

    senders = [OutboxWorker(db=world.db, config=world.config, transport=Counting(), clock=lambda: world.now,
                            owner=f"instance-{n}") for n in range(2)]
    threads = [threading.Thread(target=sender.drain) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(delivered) == queued and len(set(delivered)) == queued
    assert len(world.rows(state="sent")) == queued
    assert {row.attempts for row in world.rows()} == {1}


def test_the_mails_of_one_claimed_batch_share_one_connection_to_the_relay(world):
    from mailbridge.outgoing.outbox_worker import CLAIM_BATCH

    _many_customers(world, CLAIM_BATCH + 2)
    assert world.send() == CLAIM_BATCH + 2
    # Two claims (a full batch and the rest): two connections, not one per mail.
    assert len({mail.peer for mail in world.sink.received}) == 2


def test_a_refusal_in_the_middle_of_a_batch_leaves_the_other_mails_to_a_new_connection(world):
    _many_customers(world, 3)
    world.sink.handler.data_replies = ["451 4.3.0 try later"]
    first_id = world.rows()[0].id
    assert world.send() == 2
    assert [(row.id, row.state) for row in world.rows(state="queued")] == [(first_id, "queued")]
    # The refused mail closed its connection; the next two went through a new one.
    assert len({mail.peer for mail in world.sink.received}) == 1 and len(world.sink.received) == 2
    world.now += timedelta(minutes=2)
    assert world.send() == 1 and len(world.rows(state="sent")) == 3


def test_enqueue_all_counts_only_the_rows_it_queued_and_skips_an_intent_queued_before(database):
    now = datetime(2026, 1, 5, 10, tzinfo=UTC)

    def row(intent: str, content: bytes = b"x") -> dict:
        return outbox.outbox_row(intent=intent, kind="ack", ticket_id=None, message_id=f"{intent}@example.com",
                                 mail_from="support@example.com", recipient="c@example.org",
                                 content=content + intent.encode(), automatic=True, now=now)

    with database.session() as session:
        assert outbox.enqueue_all([row("a"), row("b")], session=session) == 2
        # SQLite counts the changes, PostgreSQL the rows returned: a skipped intent is in neither.
        assert outbox.enqueue_all([row("b", b"again "), row("c"), row("a", b"again "), row("d")], session=session) == 2
        assert outbox.enqueue_all([row("d", b"again ")], session=session) == 0
        assert outbox.enqueue_all([], session=session) == 0
    with database.session() as session:
        queued = session.exec(select(Outbox.intent, Outbox.content).order_by(Outbox.id)).all()
        mails = session.exec(select(func.count()).select_from(OutboxContent)).one()
    # Each mail is the one queued first with its intent, and a skipped duplicate left no mail of its own.
    assert [tuple(row) for row in queued] == [("a", b"xa"), ("b", b"xb"), ("c", b"xc"), ("d", b"xd")]
    assert mails == 4
