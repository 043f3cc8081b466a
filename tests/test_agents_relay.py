"""Agents answering from their mail client: what reaches the customer, and what never does.

Each test runs the whole pipeline on SQLite and PostgreSQL, with an aiosmtpd server on loopback
as the relay; agents' answers are the fixtures in tests/fixtures/agents (Outlook, Gmail,
Thunderbird, Apple Mail; Polish and Spanish), filled in from the notice they answer.
"""

from __future__ import annotations

from email.utils import parseaddr

import pytest

from agents_support import SCREENSHOT, World, files, html, plain, reply_to_notice
from mailbridge.tokens import read_ticket_token
from smtp_sink import Sink

JAN, EWA = "jan.kowalski@klient.pl", "ewa.nowak@klient.pl"
ANNA, PIOTR = "anna.kowalska@example.com", "piotr.nowak@example.com"
MARIA, LUCIA, JORGE = "maria.lopez@empresa.co", "lucia.garcia@example.com", "jorge.ruiz@example.com"


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()


@pytest.fixture
def world(database, tmp_path, sink):
    return World(database, tmp_path, sink)


def _polish_ticket(world: World):
    world.ingest("customer_first_mail_pl_with_invoice_pdf.eml")
    world.send()
    return world.to(ANNA)[-1]


def _spanish_ticket(world: World):
    world.ingest("customer_first_mail_es.eml")
    world.send()
    return world.to(LUCIA)[-1]


def test_outlook_answer_reaches_requester_and_cc_with_only_its_new_text_and_its_file(world):
    notice = _polish_ticket(world)
    outcome = world.ingest(reply_to_notice("agent_reply_outlook_html_original_message_pl.eml", notice))
    assert (outcome.kind, outcome.rule) == ("threaded", "reply-token")
    world.send()
    [to_jan], [to_ewa] = world.to(JAN)[1:], world.to(EWA)
    for mail in (to_jan, to_ewa):
        assert parseaddr(mail["From"]) == ("Anna Kowalska (Pomoc Dynamics)", "pomoc-dynamics@example.com")
        assert mail["Subject"] == "Re: [DYN-000001] Błąd przy księgowaniu faktury"
        # Threaded under the customer's own mail in their client.
        assert mail["In-Reply-To"] == "<CAF-jan-first-0001@mail.klient.pl>"
        assert read_ticket_token(parseaddr(mail["Reply-To"])[1].split("+")[1].split("@")[0],
                                 world.config.secret_bytes()) == world.ticket("DYN-000001").id
        assert mail["Auto-Submitted"] is None and mail["Precedence"] is None
        text = plain(mail)
        assert text.startswith("Dzień dobry Panie Janie,") and "otworzyłam" in text
        assert "Original Message" not in text and "Nowe zgłoszenie" not in text and "#" not in text
        body = html(mail)
        assert "<b>otworzyłam</b>" in body
        assert "Original Message" not in body and "<style" not in body and "<img" not in body
        # The agent's PDF, not the signature logo, nor the customer's own invoice.
        assert files(mail) == {"Instrukcja księgowania.pdf": b"%PDF-1.4\n% Instrukcja ksiegowania faktur "
                                                             b"korygujacych, krok 1-7\n%%EOF\n"}
    assert (parseaddr(to_jan["To"])[1], parseaddr(to_jan["Cc"])[1]) == (JAN, EWA)
    ticket = world.ticket("DYN-000001")
    assert ticket.status == "pending" and ticket.next_due_at is None
    [agent_row] = [m for m in world.messages("DYN-000001") if m.kind == "agent"]
    assert agent_row.sender == ANNA
    # The colleague hears it was answered; the agent who answered does not.
    [answered] = [m for m in world.to(PIOTR) if "Odpowiedź od" in m["Subject"]]
    assert "otworzyłam" in plain(answered)
    assert [m["Subject"] for m in world.to(ANNA)][1:] == []


@pytest.mark.parametrize(("fixture", "agent", "text", "html_word", "file"), [
    ("agent_reply_gmail_references_es.eml", LUCIA, "ya cargamos la nueva", "<b>guía adjunta</b>",
     "guia_facturacion.pdf"),
    ("agent_reply_apple_mail_es.eml", LUCIA, "renovamos la resolución", "<i>resuelto</i>", None),
])
def test_spanish_answers_from_gmail_and_apple_mail(world, fixture, agent, text, html_word, file):
    notice = _spanish_ticket(world)
    outcome = world.ingest(reply_to_notice(fixture, notice))
    assert outcome.rule == "reply-token"
    world.send()
    [relayed] = world.to(MARIA)[1:]
    assert parseaddr(relayed["From"]) == ("Lucía García (Soporte)", "soporte@example.com")
    assert relayed["In-Reply-To"] == "<CAE-maria-first-0001@mail.empresa.co>"
    body = plain(relayed)
    assert text in body and "escribió" not in body and "Nueva solicitud" not in body
    assert html_word in html(relayed) and "escribió" not in html(relayed) and "blockquote" not in html(relayed)
    assert list(files(relayed)) == ([file] if file else [])


def test_thunderbird_format_flowed_answer_is_relayed_with_its_screenshot(world):
    notice = _polish_ticket(world)
    world.ingest(reply_to_notice("agent_reply_thunderbird_flowed_pl.eml", notice))
    world.send()
    [relayed] = world.to(JAN)[1:]
    assert parseaddr(relayed["From"]) == ("Piotr Nowak (Pomoc Dynamics)", "pomoc-dynamics@example.com")
    body = plain(relayed)
    # format=flowed lines are joined back into the paragraph the agent typed.
    assert "zamknięty. Otworzyłem go, zrzut ekranu z ustawieniem w załączniku." in " ".join(body.split())
    assert "pisze:" not in body and "> " not in body
    assert files(relayed) == {"okresy_ksiegowe.png": SCREENSHOT}
    assert "<p>" in html(relayed)  # made from the text: Thunderbird sent none


def test_customer_reply_to_the_relayed_answer_threads_back_and_ends_the_wait(world):
    notice = _polish_ticket(world)
    world.ingest(reply_to_notice("agent_reply_outlook_html_original_message_pl.eml", notice))
    world.send()
    relayed = world.to(JAN)[-1]
    reply = (f"From: Jan Kowalski <{JAN}>\r\nTo: {relayed['Reply-To']}\r\nSubject: Re: {relayed['Subject']}\r\n"
             f"Message-ID: <jan-thanks@mail.klient.pl>\r\nIn-Reply-To: {relayed['Message-ID']}\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\nDziękuję, działa.\r\n").encode()
    outcome = world.ingest(reply)
    assert (outcome.kind, outcome.ticket_code, outcome.rule) == ("threaded", "DYN-000001", "reply-token")
    assert world.ticket("DYN-000001").status == "open"


def test_note_is_recorded_for_agents_and_never_reaches_the_customer(world):
    notice = _polish_ticket(world)
    note = reply_to_notice("agent_note_gmail_pl.eml", notice)
    world.ingest(note)
    world.send()
    assert world.to(JAN)[1:] == [] and world.to(EWA) == []
    [row] = [m for m in world.messages("DYN-000001") if m.sender == ANNA]
    assert row.kind == "note" and "Dzwoniłam do klienta" in row.reply_text
    ticket = world.ticket("DYN-000001")
    assert ticket.status == "new" and ticket.next_due_at is not None  # a note is not a response
    assert world.outbox(kind="relay") == [] and world.outbox(kind="agent_answered") == []


def test_commands_in_polish_combined_change_the_ticket_and_the_rest_is_relayed(world):
    notice = _polish_ticket(world)
    answer = _plain_answer(notice, ANNA, "#Rozwiąż #priorytet pilny\n#biorę\n\nProblem rozwiązany, "
                                         "proszę spróbować ponownie.")
    world.ingest(answer)
    world.send()
    relayed, resolved = world.to(JAN)[1:]
    assert plain(relayed).strip() == "Problem rozwiązany, proszę spróbować ponownie."
    assert "rozwiązane" in resolved["Subject"].lower() or "DYN-000001" in resolved["Subject"]
    ticket = world.ticket("DYN-000001")
    assert (ticket.status, ticket.priority, ticket.owner) == ("resolved", "urgent", ANNA)


def test_spanish_commands_pending_type_and_assign(world):
    notice = _spanish_ticket(world)
    world.ingest(_plain_answer(notice, LUCIA, f"#TIPO petición\n#asignar {JORGE}\n#nota\nLlamar mañana."))
    ticket = world.ticket("SOP-000001")
    assert (ticket.type, ticket.owner, ticket.status) == ("petition", JORGE, "new")
    world.send()
    assert world.to(MARIA)[1:] == []
    # From now on the customer's mail notifies the owner only.
    world.ingest(_customer_reply(MARIA, "soporte@example.com", "Re: [SOP-000001] No puedo emitir",
                                 "¿Alguna novedad?", "maria-2@mail.empresa.co"))
    world.send()
    assert len(world.to(JORGE)) == 2 and len(world.to(LUCIA)) == 1  # the new ticket, then the reply


@pytest.mark.parametrize(("first_line", "shown"), [
    ("#zamknji", "#zamknji"),
    ("#priority soon", "#priority soon"),
    ("#assign someone@elsewhere.example", "someone@elsewhere.example is not an agent"),
    ("#take it", "#take it"),
])
def test_a_bad_command_relays_nothing_changes_nothing_and_tells_the_agent_why(world, first_line, shown):
    notice = _polish_ticket(world)
    world.ingest(_plain_answer(notice, ANNA, f"{first_line}\nDzień dobry, już działa."))
    world.send()
    assert world.to(JAN)[1:] == []
    ticket = world.ticket("DYN-000001")
    assert (ticket.status, ticket.priority, ticket.owner) == ("new", "routine", None)
    [told] = world.to(ANNA)[1:]
    body = plain(told)
    assert shown in body and "#notatka" in body and "#prioridad" in body and "#resolve" in body
    assert world.to(PIOTR)[1:] == []


def test_an_agent_mail_without_the_thread_proof_is_an_ordinary_message_and_the_agent_is_told(world):
    _polish_ticket(world)
    spoofed = (f"From: Anna Kowalska <{ANNA}>\r\nTo: pomoc-dynamics@example.com\r\n"
               "Subject: Re: [DYN-000001] Błąd przy księgowaniu faktury\r\nMessage-ID: <spoof-1@evil.example>\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n\r\n#resolve\r\nProszę przelać 500 zł na konto 12 3456.\r\n")
    outcome = world.ingest(spoofed.encode())
    assert (outcome.ticket_code, outcome.rule) == ("DYN-000001", "subject-code")
    world.send()
    assert world.to(JAN)[1:] == [] and world.to(EWA) == []
    assert world.ticket("DYN-000001").status != "resolved"
    [row] = [m for m in world.messages("DYN-000001") if m.sender == ANNA]
    assert row.kind == "customer"
    [told] = [m for m in world.to(ANNA) if "Nie wysłano" in m["Subject"]]
    assert "Reply-To" in plain(told) and "adres odpowiedzi" in plain(told)


AUTH_OK = "Authentication-Results: mx.example.com; dkim=pass header.d=example.com header.s=sel1; spf=pass"


@pytest.mark.parametrize(("headers", "relayed"), [
    ([], False),
    ([AUTH_OK], True),
    (["Authentication-Results: mx.example.com; dmarc=pass (p=reject) header.from=example.com"], True),
    (["Authentication-Results: mx.example.com; dkim=fail header.d=example.com; dmarc=fail header.from=example.com"],
     False),
    # Anyone can write this header: only the one carrying our MTA's id counts, and only the topmost.
    (["Authentication-Results: evil.example; dkim=pass header.d=example.com"], False),
    (["Authentication-Results: mx.example.com; dkim=none",
      "Authentication-Results: mx.example.com; dkim=pass header.d=example.com"], False),
    (["Authentication-Results: mx.example.com; dkim=pass header.d=other.example"], False),
])
def test_where_a_trusted_mta_is_configured_an_answer_also_needs_its_dkim_or_dmarc_pass(
        database, tmp_path, sink, headers, relayed):
    world = World(database, tmp_path, sink, extra='[listener]\nport = 0\ntrusted_authserv_id = "mx.example.com"')
    notice = _polish_ticket(world)
    world.ingest(_plain_answer(notice, ANNA, "Dzień dobry, już działa.", headers=headers))
    world.send()
    assert len(world.to(JAN)[1:]) == (1 if relayed else 0)
    if not relayed:
        [told] = [m for m in world.to(ANNA) if "Nie wysłano" in m["Subject"]]
        assert "mx.example.com" in plain(told)


def test_a_stranger_copying_a_stored_message_id_lands_on_the_ticket_but_takes_nothing_over(world):
    _polish_ticket(world)
    forged = ("From: Mallory <mallory@evil.example>\r\nTo: pomoc-dynamics@example.com\r\n"
              "Cc: Eve <eve@evil.example>\r\nSubject: Zmiana numeru konta\r\nMessage-ID: <forged-1@evil.example>\r\n"
              "References: <CAF-jan-first-0001@mail.klient.pl>\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\nNowy numer konta: 99 9999.\r\n").encode()
    outcome = world.ingest(forged)
    assert (outcome.ticket_code, outcome.rule) == ("DYN-000001", "stored-reference")
    assert "not one of the ticket's people" in outcome.detail
    ticket = world.ticket("DYN-000001")
    assert ticket.subject == "Błąd przy księgowaniu faktury"
    assert world.participants("DYN-000001") == {(JAN, "requester"), (EWA, "cc")}
    world.send()
    notice = world.to(ANNA)[-1]
    world.ingest(reply_to_notice("agent_reply_outlook_html_original_message_pl.eml", notice))
    world.send()
    assert world.to("mallory@evil.example") == [] and world.to("eve@evil.example") == []
    [relayed] = world.to(JAN)[1:]
    assert relayed["In-Reply-To"] == "<CAF-jan-first-0001@mail.klient.pl>"


def test_a_forged_original_arriving_after_its_reply_renames_nothing(world):
    world.ingest(_customer_reply(JAN, "pomoc-dynamics@example.com", "Re: Faktura", "Jak w temacie.",
                                 "jan-reply@mail.klient.pl", extra="In-Reply-To: <orig-x@evil.example>\r\n"))
    outcome = world.ingest(_customer_reply("mallory@evil.example", "pomoc-dynamics@example.com", "Przelej pieniądze",
                                           "...", "orig-x@evil.example", extra="Cc: eve@evil.example\r\n"))
    assert outcome.rule == "referenced-by"
    assert world.ticket(outcome.ticket_code).subject == "Re: Faktura"
    assert world.participants(outcome.ticket_code) == {(JAN, "requester")}


def test_the_requester_widens_the_participants_with_a_cc(world):
    _polish_ticket(world)
    world.ingest(_customer_reply(JAN, "pomoc-dynamics@example.com", "Re: [DYN-000001] Błąd", "Dodaję kolegę.",
                                 "jan-2@mail.klient.pl", extra="Cc: Tomasz <tomasz@klient.pl>\r\n"))
    assert (("tomasz@klient.pl", "cc")) in world.participants("DYN-000001")


def test_notices_list_the_customers_files_and_attach_them_up_to_the_configured_size(database, tmp_path, sink):
    world = World(database, tmp_path, sink, extra="[agent_mail]\nnotice_attachments_max_bytes = 10")
    notice = _polish_ticket(world)
    assert "faktura_FV_2026_12_118.pdf (79 B)" in plain(notice)
    assert files(notice) == {}
    assert notice["Subject"].count("[DYN-000001]") == 1


def test_a_customer_reply_naming_the_code_gives_notices_with_the_code_once(world):
    _polish_ticket(world)
    world.ingest(_customer_reply(JAN, "pomoc-dynamics@example.com", "RE: [DYN-000001] [DYN-000001] Błąd",
                                 "Jeszcze raz.", "jan-3@mail.klient.pl"))
    world.send()
    assert [m["Subject"].count("DYN-000001") for m in world.to(ANNA)] == [1, 1]


def test_a_customers_personal_agent_owns_their_new_tickets_and_alone_gets_the_notices(world):
    world.ingest(_customer_reply("gerente@oro.example.co", "soporte@example.com", "Consulta", "Hola.",
                                 "oro-1@oro.example.co"))
    world.send()
    assert world.ticket("SOP-000001").owner == JORGE
    assert len(world.to(JORGE)) == 1 and world.to(LUCIA) == []


def test_mail_from_a_noreply_address_opens_a_ticket_without_an_acknowledgement(world):
    outcome = world.ingest(_customer_reply("no-reply@monitoring.klient.pl", "pomoc-dynamics@example.com",
                                           "ALERT: księgowanie nie działa", "Usługa niedostępna od 09:12.",
                                           "alert-1@monitoring.klient.pl"))
    assert outcome.kind == "created"
    world.send()
    assert world.to("no-reply@monitoring.klient.pl") == []
    assert len(world.to(ANNA)) == 1 and world.ticket(outcome.ticket_code).next_due_at is not None


def _plain_answer(notice, agent: str, text: str, *, headers: list[str] = ()) -> bytes:
    """An answer as a plain-text client writes it: the text, then the quoted notice."""
    quoted = "\r\n".join("> " + line for line in plain(notice).splitlines())
    head = [f"From: {agent}", f"To: {notice['Reply-To']}", f"Subject: Re: {notice['Subject']}",
            f"Message-ID: <answer-{abs(hash(text))}@agent.example.com>", f"In-Reply-To: {notice['Message-ID']}",
            *headers, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit"]
    body = text.replace("\n", "\r\n") + "\r\n\r\nW dniu 3.12.2026 o 10:01, Pomoc napisał(a):\r\n" + quoted
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


def _customer_reply(sender: str, to: str, subject: str, body: str, message_id: str, *, extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n{extra}"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"\r\n{body}\r\n").encode("utf-8")


def test_our_notice_attached_by_the_agents_client_is_not_passed_on_to_the_customer(world):
    notice = _polish_ticket(world)
    raw_notice = world.sink.received[1].content
    answer = (f"From: {ANNA}\r\nTo: {notice['Reply-To']}\r\nSubject: Re: x\r\nMessage-ID: <attach-orig@example.com>\r\n"
              'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
              "Content-Type: text/plain; charset=utf-8\r\n\r\nDzień dobry, gotowe.\r\n--b1\r\n"
              "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n").encode() + raw_notice + b"\r\n--b1--\r\n"
    world.ingest(answer)
    world.send()
    [relayed] = world.to(JAN)[1:]
    assert files(relayed) == {} and "gotowe" in plain(relayed)


def test_whom_the_agent_copies_in_joins_the_ticket_and_gets_the_answer(world):
    notice = _polish_ticket(world)
    answer = _plain_answer(notice, ANNA, "Dzień dobry, włączam do rozmowy naszego konsultanta.",
                           headers=["Cc: Marek Konsultant <marek@partner.example.pl>"])
    world.ingest(answer)
    world.send()
    assert ("marek@partner.example.pl", "cc") in world.participants("DYN-000001")
    [copy] = world.to("marek@partner.example.pl")
    assert "konsultanta" in plain(copy)


@pytest.mark.parametrize(("first_line", "status", "customer_mails"), [
    ("#close", "closed", ["Re: [DYN-000001]", "zamknięte"]),
    ("#ZAMKNIJ", "closed", ["Re: [DYN-000001]", "zamknięte"]),
    ("#cerrar", "closed", ["Re: [DYN-000001]", "zamknięte"]),
    ("#resolve", "resolved", ["Re: [DYN-000001]", "rozwiązane"]),
    ("#pending", "pending", ["Re: [DYN-000001]"]),
    ("#open", "open", ["Re: [DYN-000001]"]),
    ("#otwórz", "open", ["Re: [DYN-000001]"]),
])
def test_each_status_command_with_an_answer(world, first_line, status, customer_mails):
    notice = _polish_ticket(world)
    world.ingest(_plain_answer(notice, ANNA, f"{first_line}\nDzień dobry, odpowiedź."))
    assert world.ticket("DYN-000001").status == status
    world.send()
    subjects = [m["Subject"] for m in world.to(JAN)[1:]]
    assert len(subjects) == len(customer_mails)
    for subject, expected in zip(subjects, customer_mails):
        assert expected in subject.lower() or expected in subject


def test_commands_alone_change_the_ticket_and_send_nothing(world):
    notice = _polish_ticket(world)
    world.ingest(_plain_answer(notice, ANNA, f"#pending\n#assign {PIOTR}"))
    ticket = world.ticket("DYN-000001")
    assert (ticket.status, ticket.owner) == ("pending", PIOTR)
    world.send()
    assert world.to(JAN)[1:] == [] and world.outbox(kind="relay") == []
    assert [m.kind for m in world.messages("DYN-000001")] == ["customer", "note"]


def test_a_screenshot_pasted_into_an_apple_mail_answer_is_relayed_inline_and_a_logo_is_not(world):
    import base64

    notice = _spanish_ticket(world)
    logo = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 300).decode()
    shot = base64.encodebytes(SCREENSHOT).decode()
    answer = (f"From: {LUCIA}\r\nTo: {notice['Reply-To']}\r\nSubject: Re: x\r\nMessage-Id: <apple-shot@example.com>\r\n"
              f"In-Reply-To: {notice['Message-ID']}\r\nMime-Version: 1.0 (Mac OS X Mail 16.0)\r\n"
              'Content-Type: multipart/alternative; boundary="Apple-Mail=_A"\r\n\r\n'
              "--Apple-Mail=_A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVea la captura:\r\n\r\n"
              "> El 3 dic 2026, Soporte escribió:\r\n> Nueva solicitud\r\n"
              '--Apple-Mail=_A\r\nContent-Type: multipart/related; type="text/html"; boundary="Apple-Mail=_B"\r\n\r\n'
              "--Apple-Mail=_B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
              '<html><body>Vea la captura:<div><img src="cid:F1A2@apple"></div><div><img src="cid:logo@apple"></div>'
              '<blockquote type="cite"><div>El 3 dic 2026, Soporte escribió:</div>Nueva solicitud</blockquote></body></html>\r\n'
              "--Apple-Mail=_B\r\nContent-Type: image/png; name=captura.png\r\nContent-Disposition: inline; filename=captura.png\r\n"
              f"Content-Id: <F1A2@apple>\r\nContent-Transfer-Encoding: base64\r\n\r\n{shot}\r\n"
              "--Apple-Mail=_B\r\nContent-Type: image/png; name=logo.png\r\nContent-Disposition: inline; filename=logo.png\r\n"
              f"Content-Id: <logo@apple>\r\nContent-Transfer-Encoding: base64\r\n\r\n{logo}\r\n"
              "--Apple-Mail=_B--\r\n--Apple-Mail=_A--\r\n").encode()
    world.ingest(answer)
    world.send()
    [relayed] = world.to(MARIA)[1:]
    assert files(relayed) == {"captura.png": SCREENSHOT}
    body = html(relayed)
    assert 'src="cid:F1A2@apple"' in body and "logo@apple" not in body and "escribió" not in body
    [part] = list(relayed.iter_attachments())
    assert part["Content-ID"] == "<F1A2@apple>"


def test_an_answer_no_customer_address_can_receive_is_kept_and_the_agent_is_told(world):
    world.ingest(_customer_reply("no-reply@monitoring.klient.pl", "pomoc-dynamics@example.com",
                                 "ALERT: księgowanie nie działa", "Usługa niedostępna.", "alert-2@monitoring.klient.pl"))
    world.send()
    notice = world.to(ANNA)[-1]
    world.ingest(_plain_answer(notice, ANNA, "Sprawdzamy."))
    world.send()
    assert world.outbox(kind="relay") == []
    [told] = [m for m in world.to(ANNA) if "Nie wysłano" in m["Subject"]]
    body = plain(told)
    assert "Twoja odpowiedź" in body and "żaden adres po stronie klienta" in body
