"""Agents answering from their mail client, end to end through the real listener and a relay sink.

`mailbridge serve` (listener, worker process, outbox worker) runs on SQLite and PostgreSQL; the
customer's mail goes in with smtplib, the agent's answer as Outlook, Gmail, Thunderbird or
Apple Mail wrote it goes in with swaks, and what reaches the customer is read from an aiosmtpd
sink standing in for the site's relay.
"""

from __future__ import annotations

import smtplib
import tempfile
from email.utils import parseaddr

import pytest

from agents_support import SCREENSHOT, config_text, files, fixture, html, parse, plain, reply_to_notice
from mailbridge.config import load_config
from serve_support import ServerThread, have_swaks, swaks, wait_until
from smtp_sink import Sink

JAN, EWA, MARIA = "jan.kowalski@klient.pl", "ewa.nowak@klient.pl", "maria.lopez@empresa.co"
ANNA, PIOTR, LUCIA = "anna.kowalska@example.com", "piotr.nowak@example.com", "lucia.garcia@example.com"


class Served:
    """A running `serve` whose relay is a sink; mail goes in over SMTP."""

    def __init__(self, server: ServerThread, sink: Sink) -> None:
        self.server, self.sink = server, sink

    def smtp(self, raw: bytes, mail_from: str, rcpt: str) -> None:
        with smtplib.SMTP("127.0.0.1", self.server.port, timeout=10) as client:
            client.sendmail(mail_from, [rcpt], raw)

    def swaks(self, raw: bytes, mail_from: str, rcpt: str) -> None:
        with tempfile.NamedTemporaryFile(suffix=".eml") as file:
            file.write(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            file.flush()
            done = swaks("--server", f"127.0.0.1:{self.server.port}", "--from", mail_from, "--to", rcpt,
                         "--data", file.name)
        assert done.returncode == 0, done.stdout + done.stderr

    def to(self, address: str):
        return [parse(r.content) for r in self.sink.received if r.rcpt_tos == [address]]

    def wait_for(self, address: str, count: int, what: str):
        wait_until(lambda: len(self.to(address)) >= count, 30, what)
        return self.to(address)


@pytest.fixture
def served(database, tmp_path):
    if not have_swaks():
        pytest.skip("swaks is not installed (apt-get install swaks)")
    sink = Sink().start()
    path = tmp_path / "mailbridge.toml"
    path.write_text(config_text(tmp_path, database.url, relay_port=sink.port, extra="[listener]\nport = 0"),
                    encoding="utf-8")
    try:
        with ServerThread(load_config(path, env={}), database) as server:
            yield Served(server, sink)
    finally:
        sink.stop()


CLIENTS = [
    ("agent_reply_outlook_html_original_message_pl.eml", "customer_first_mail_pl_with_invoice_pdf.eml", JAN, ANNA,
     "CAF-jan-first-0001@mail.klient.pl", "już go otworzyłam", "<b>otworzyłam</b>",
     {"Instrukcja księgowania.pdf"}),
    ("agent_reply_gmail_references_es.eml", "customer_first_mail_es.eml", MARIA, LUCIA,
     "CAE-maria-first-0001@mail.empresa.co", "ya cargamos la nueva", "<b>guía adjunta</b>", {"guia_facturacion.pdf"}),
    ("agent_reply_thunderbird_flowed_pl.eml", "customer_first_mail_pl_with_invoice_pdf.eml", JAN, PIOTR,
     "CAF-jan-first-0001@mail.klient.pl", "Otworzyłem go", "Otworzyłem go", {"okresy_ksiegowe.png"}),
    ("agent_reply_apple_mail_es.eml", "customer_first_mail_es.eml", MARIA, LUCIA,
     "CAE-maria-first-0001@mail.empresa.co", "renovamos la resolución", "<i>resuelto</i>", set()),
]


@pytest.mark.parametrize(("answer", "first", "customer", "agent", "customer_id", "new_text", "new_html", "sent_files"),
                         CLIENTS, ids=["outlook-pl", "gmail-es", "thunderbird-pl", "apple-mail-es"])
def test_the_customer_receives_only_the_agents_new_text_threaded_under_their_mail(
        served, answer, first, customer, agent, customer_id, new_text, new_html, sent_files):
    queue = "pomoc-dynamics@example.com" if customer == JAN else "soporte@example.com"
    served.smtp(fixture(first), customer, queue)
    [notice] = served.wait_for(agent, 1, "the agent's notice")
    served.wait_for(customer, 1, "the acknowledgement")
    reply_to = parseaddr(str(notice["Reply-To"]))[1]
    served.swaks(reply_to_notice(answer, notice), agent, reply_to)
    ack, relayed = served.wait_for(customer, 2, "the relayed answer")[:2]
    assert relayed["In-Reply-To"] == f"<{customer_id}>"
    assert str(relayed["Subject"]).startswith("Re: [") and str(relayed["Subject"]).count("[") == 1
    assert parseaddr(str(relayed["From"]))[1] == queue and "(" in str(relayed["From"])
    text = plain(relayed)
    assert new_text in " ".join(text.split())
    for quoted in ("Nowe zgłoszenie", "Nueva solicitud", "Original Message", "escribió", "pisze:", "> "):
        assert quoted not in text
    assert new_html in html(relayed) and "blockquote" not in html(relayed)
    assert set(files(relayed)) == sent_files
    if "okresy_ksiegowe.png" in sent_files:
        assert files(relayed)["okresy_ksiegowe.png"] == SCREENSHOT
    # The customer's reply to the answer threads back onto the ticket by its token.
    served.smtp((f"From: {customer}\r\nTo: {relayed['Reply-To']}\r\nSubject: Re: {relayed['Subject']}\r\n"
                 f"Message-ID: <thanks-{agent}>\r\nIn-Reply-To: {relayed['Message-ID']}\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n\r\nGracias / Dziękuję\r\n").encode(), customer,
                parseaddr(str(relayed["Reply-To"]))[1])
    wait_until(lambda: any("Gracias" in plain(m) for m in served.to(agent)[1:]), 30, "the notice of the reply")


def test_a_note_a_spoofed_agent_and_a_references_takeover_reach_no_customer(served):
    served.smtp(fixture("customer_first_mail_pl_with_invoice_pdf.eml"), JAN, "pomoc-dynamics@example.com")
    [notice] = served.wait_for(ANNA, 1, "the agent's notice")
    reply_to = parseaddr(str(notice["Reply-To"]))[1]
    # An internal note, answered to the notice like any answer.
    served.swaks(reply_to_notice("agent_note_gmail_pl.eml", notice), ANNA, reply_to)
    # Someone writing as the agent, without the ticket's reply address.
    served.swaks(b"From: Anna Kowalska <anna.kowalska@example.com>\r\nTo: pomoc-dynamics@example.com\r\n"
                 b"Subject: Re: [DYN-000001] Faktura\r\nMessage-ID: <spoof-e2e@evil.example>\r\n"
                 b"Content-Type: text/plain\r\n\r\nPlease pay to account 99 9999.\r\n", ANNA,
                 "pomoc-dynamics@example.com")
    # A stranger copying the customer's Message-ID into References, copying in a friend.
    served.smtp(b"From: mallory@evil.example\r\nTo: pomoc-dynamics@example.com\r\nCc: eve@evil.example\r\n"
                b"Subject: New bank account\r\nMessage-ID: <forged-e2e@evil.example>\r\n"
                b"References: <CAF-jan-first-0001@mail.klient.pl>\r\nContent-Type: text/plain\r\n\r\nPay here.\r\n",
                "mallory@evil.example", "pomoc-dynamics@example.com")
    # The spoofed mail was not relayed, and its sender is told why.
    wait_until(lambda: any("Nie wysłano" in str(m["Subject"]) for m in served.to(ANNA)), 30, "the refusal")
    # Then a real answer: it reaches the requester and the Cc participant, and nobody else.
    notices = served.to(ANNA)
    served.swaks(reply_to_notice("agent_reply_outlook_html_original_message_pl.eml", notices[0]), ANNA, reply_to)
    served.wait_for(JAN, 2, "the relayed answer")
    served.wait_for(EWA, 1, "the relayed answer to the Cc")
    to_jan = served.to(JAN)
    assert len(to_jan) == 2 and "Dzwoniłam" not in plain(to_jan[1]) and "99 9999" not in plain(to_jan[1])
    assert str(to_jan[1]["Subject"]) == "Re: [DYN-000001] Błąd przy księgowaniu faktury"
    assert served.to("mallory@evil.example") == [] and served.to("eve@evil.example") == []
    assert [r for r in served.sink.received if "evil.example" in " ".join(r.rcpt_tos)] == []


def test_serve_closes_a_ticket_resolved_long_ago_with_the_closed_mail(database, tmp_path):
    from datetime import timedelta

    from mailbridge import pipeline, status
    from mailbridge.store import repo
    from mailbridge.store.types import utcnow

    sink = Sink().start()
    path = tmp_path / "mailbridge.toml"
    path.write_text(config_text(tmp_path, database.url, relay_port=sink.port,
                                extra="[listener]\nport = 0\n[agent_mail]\ntick_seconds = 1"), encoding="utf-8")
    config = load_config(path, env={})
    long_ago = utcnow() - timedelta(days=8)
    outcome = pipeline.ingest(fixture("customer_first_mail_es.eml"), db=database, config=config, now=long_ago,
                              source="test", received_at=long_ago)
    with database.session() as session:
        ticket = repo.ticket_by_code(outcome.ticket_code, session=session)
        status.apply(ticket, "resolve", session=session, config=config, secret=config.secret_bytes(), now=long_ago)
    try:
        with ServerThread(config, database):
            wait_until(lambda: any("cerrada" in str(parse(r.content)["Subject"]) for r in sink.received), 30,
                       "the 'closed' mail")
    finally:
        sink.stop()
    with database.session() as session:
        assert repo.ticket_by_code(outcome.ticket_code, session=session).status == "closed"
