"""Broken header blocks keep every header that can be read, and say what was mended."""

from __future__ import annotations

from mailbridge.parse import parse_message
from mailbridge.parse.model import Address


def test_mbox_line_then_a_field_without_colon_keeps_the_headers_below_it(mail_fixture):
    message = parse_message(mail_fixture("headers_mbox_line_then_field_without_colon_polish.eml"))
    assert message.from_ == Address("Jan Nowak", "jan.nowak@firma.example.pl")
    assert message.subject == "Faktura nie zgadza się"
    assert message.message_id == "faktura-1@firma.example.pl"
    assert message.text.startswith("Dzień dobry")
    assert any("without a field name dropped" in d and "Skaner" in d for d in message.defects)


def test_a_pasted_line_above_the_header_block_is_skipped_with_a_defect(mail_fixture):
    message = parse_message(mail_fixture("headers_pasted_line_above_block_spanish.eml"))
    assert message.from_ == Address("Lucía García", "lucia@empresa.example.es")
    assert message.subject == "No puedo iniciar sesión"
    assert message.text.strip() == "Hola, desde ayer no puedo iniciar sesión."
    assert any("Original email message" in d for d in message.defects)


def test_the_first_from_with_an_address_wins_over_garbage_and_empty_mailboxes(mail_fixture):
    message = parse_message(mail_fixture("headers_garbage_first_from_specials_and_open_message_id_polish.eml"))
    assert message.from_ == Address("Biuro Zamówień", "zamowienia@biuro.example.pl")


def test_unquoted_specials_in_a_display_name_make_one_address(mail_fixture):
    message = parse_message(mail_fixture("headers_garbage_first_from_specials_and_open_message_id_polish.eml"))
    assert message.to == (Address("Max Kohl | [example.com]", "kohl@example.com"),
                          Address("", "pomoc-powerbi@example.com"))


def test_a_message_id_with_an_unbalanced_bracket_loses_the_bracket(mail_fixture):
    opened = parse_message(mail_fixture("headers_garbage_first_from_specials_and_open_message_id_polish.eml"))
    closed = parse_message(mail_fixture("headers_unindented_wrapped_subject_spanish.eml"))
    assert opened.message_id == "zam-12@biuro.example.pl"
    assert closed.message_id == "pres-5@cliente.example.es"


def test_a_long_value_wrapped_without_indentation_is_joined(mail_fixture):
    message = parse_message(mail_fixture("headers_unindented_wrapped_subject_spanish.eml"))
    assert message.subject == ("Solicitud de presupuesto para la renovacion de licencias de la oficina de "
                               "Madrid y Barcelona")
    assert message.date is not None
    assert message.text.strip() == "Buenos dias, necesitamos un presupuesto."
    assert any("unindented continuation line joined" in d for d in message.defects)


def test_body_starting_without_a_blank_line_stays_body():
    message = parse_message(b"From: ana@example.es\nSubject: Hola\nGracias por todo\nAna\n")
    assert message.subject == "Hola"
    assert message.text == "Gracias por todo\nAna\n"


def test_a_field_like_line_in_the_body_is_not_taken_for_a_header():
    raw = b"From: ana@example.es\nSubject: Pedido\n\nNota: urgente\nTo: be done\n"
    message = parse_message(raw)
    assert message.to == ()
    assert "Nota: urgente" in message.text


def test_references_keep_an_id_with_an_unbalanced_bracket():
    raw = (b"From: ana@example.es\nSubject: Re: Pedido\nReferences: <a-1@example.es> <b-2@example.es\n"
           b"In-Reply-To: c-3@example.es>\n\nHola\n")
    message = parse_message(raw)
    assert message.references == ("a-1@example.es", "b-2@example.es")
    assert message.in_reply_to == ("c-3@example.es",)


def test_prose_above_a_pasted_header_block_is_not_taken_for_junk():
    # A body pasted without headers: its own text must not be skipped to make headers of the
    # Outlook block it quotes.
    raw = b"Gracias por la ayuda.\n____\nFrom: Soporte <s@example.com>\nSent: lunes\nTo: a@b.es\nSubject: x\n\nHola\n"
    message = parse_message(raw)
    assert message.from_ is None
    assert message.text.startswith("Gracias por la ayuda.")


def test_a_garbled_first_field_is_skipped_and_the_rest_kept():
    raw = b"Fro :Jan Nowak <jan@firma.example.pl>\nTo: pomoc@example.com\nSubject: Faktura\n\nTresc\n"
    message = parse_message(raw)
    assert (message.to[0].address, message.subject) == ("pomoc@example.com", "Faktura")
    assert any("Fro :" in d for d in message.defects)
