"""Whole messages through parse_message: the fixtures under tests/fixtures/mail, named by behaviour."""

import hashlib
import json

import pytest

from mailbridge.errors import ParseError
from mailbridge.parse import parse_message
from mailbridge.parse.model import Address

POLISH_BODY = "niestety płatność za fakturę nie przeszła. Proszę o pilną odpowiedź, bo źle się dzieje."


@pytest.fixture
def parse(mail_fixture):
    return lambda name: parse_message(mail_fixture(name))


@pytest.mark.parametrize("name", ["polish_windows1250_body.eml", "polish_iso88592_body.eml"])
def test_declared_polish_legacy_bodies(parse, name):
    message = parse(name)
    assert POLISH_BODY in message.text
    assert message.subject == "Problem z fakturą"
    assert message.defects == ()
    assert message.language == "pl"


def test_undeclared_windows_1250_body_is_decoded_with_a_defect(parse):
    message = parse("polish_undeclared_windows1250_body.eml")
    assert POLISH_BODY in message.text
    assert message.defects == ("body: charset: none declared, decoded as windows-1250",)


def test_raw_utf8_subject_and_display_name_are_never_dropped(parse):
    message = parse("polish_raw_utf8_subject_and_name.eml")
    assert message.subject == "Błąd płatności"
    assert message.from_ == Address("Józef Ślęzak", "jozef@example.pl")
    assert message.header("Subject") == "Błąd płatności"
    assert "subject: raw 8-bit bytes in header, decoded as utf-8" in message.defects


def test_q_encoded_polish_names_in_every_address_header(parse):
    message = parse("polish_q_encoded_names.eml")
    assert message.from_ == Address("Józef Ślęzak", "jozef@example.pl")
    assert message.to == (Address("Kowalski, Jan", "jan@example.pl"), Address("Nowak, Anna", "anna@example.pl"))
    assert message.cc == (Address("Żaneta Wójcik", "zaneta@example.pl"),)
    assert message.reply_to == (Address("Dział Płatności", "platnosci@example.pl"),)
    assert message.subject == "Odpowiedź w sprawie zgłoszenia"


def test_spanish_iso_8859_1_request(parse):
    message = parse("spanish_iso88591_solicitud.eml")
    assert message.subject == "Solicitud de información"
    assert message.from_.name == "María Peña"
    assert "¿Podrían enviarme información sobre el año pasado?" in message.text
    assert message.date.isoformat() == "2024-06-06T11:00:00+02:00"


def test_spanish_outlook_reply_keeps_threading_headers(parse):
    message = parse("spanish_outlook_reply_re_rv.eml")
    assert message.subject == "Re: RV: Petición pendiente"
    assert message.in_reply_to == ("orig-1@example.com",)
    assert message.references == ("orig-0@example.com", "orig-1@example.com")
    assert message.text.startswith("Gracias, ya está resuelto.")
    assert "Enviado:" not in message.reply_text


def test_utf7_and_iso_2022_jp(parse):
    assert parse("utf7_body.eml").text == "Zażółć gęślą jaźń\n"
    assert parse("utf7_body.eml").subject == "Zgłoszenie"
    japanese = parse("iso2022jp_body_and_subject.eml")
    assert japanese.subject == "日本語の件名"
    assert japanese.text.strip() == "こんにちは、世界。"


def test_format_flowed_is_unwrapped_with_delsp(parse):
    text = parse("format_flowed_delsp.eml").text
    assert "at a soft break and the reader joins again.\n" in text
    assert "> quoted text that was also soft wrapped by the client.\n" in text
    assert ">not a quote, space-stuffed\n" in text
    assert "\n-- \nSignature" in text


def test_uuencoded_block_becomes_an_attachment_and_leaves_the_text(parse):
    message = parse("uuencoded_attachment_in_text.eml")
    assert "begin 644" not in message.text
    assert "See the file below." in message.text and "Thanks." in message.text
    (attachment,) = message.attachments
    assert attachment.filename == "hello.txt"
    assert attachment.payload == b"Hello from an uuencoded file!\n"
    assert attachment.sha256 == hashlib.sha256(attachment.payload).hexdigest()


def test_nested_rfc822_is_one_attachment_and_does_not_leak(parse):
    message = parse("nested_rfc822_forward.eml")
    assert message.text.strip() == "Forwarding the original below."
    assert "SECRET" not in message.text + message.reply_text
    (attachment,) = message.attachments
    assert attachment.content_type == "message/rfc822"
    assert b"SECRET INNER TEXT" in attachment.payload
    assert parse_message(attachment.payload).message_id == "inner@example.com"


def test_inline_cid_image_and_html_only_text(parse):
    message = parse("inline_cid_image_html.eml")
    assert message.text.strip() == "See the error:"
    (image,) = message.attachments
    assert (image.content_type, image.inline, image.content_id, image.filename) == \
        ("image/png", True, "shot1@example.com", None)
    assert image.payload.startswith(b"\x89PNG")


def test_html_only_blockquote_is_rendered_as_quotes(parse):
    message = parse("html_only_with_blockquote.eml")
    assert message.text == "Dziękuję, działa!\nW dniu 3 czerwca Jan napisał:\n> Stara treść\n"
    assert message.html.startswith("<html>")
    assert message.reply_text.strip() == "Dziękuję, działa!"


def test_path_traversal_filename_is_reported_as_sent(parse):
    (attachment,) = parse("path_traversal_filename.eml").attachments
    assert attachment.filename == "../../etc/passwd"
    assert attachment.payload == b"root:x:0:0:"


def test_rfc2231_2047_and_nameless_attachments(parse):
    names = [a.filename for a in parse("rfc2231_continued_filename.eml").attachments]
    assert names == ["Faktura za płatność.pdf", "Załącznik.pdf", None]


def test_missing_message_id_and_unparseable_date(parse):
    message = parse("no_message_id_unparseable_date.eml")
    assert message.message_id is None and message.date is None
    assert message.defects == ("date: unparseable 'sometime last week'",)


def test_unknown_charset_is_a_defect_not_a_crash(parse):
    message = parse("unknown_declared_charset.eml")
    assert message.subject == "café"
    assert message.text == "Café ¿qué tal?\n"
    assert "body: charset: declared 'x-foo-bar' unknown, decoded as utf-8" in message.defects


def test_cr_only_line_endings(parse):
    message = parse("cr_only_line_endings.eml")
    assert message.subject == "old mac"
    assert message.text == "Line one\nLine two\n"


def test_truncated_multipart_keeps_readable_text_and_records_defects(parse):
    message = parse("broken_base64_and_missing_close_boundary.eml")
    assert message.text.strip() == "Readable text survives."
    assert [a.filename for a in message.attachments] == ["cut.pdf"]
    assert any("CloseBoundaryNotFound" in d for d in message.defects)


@pytest.mark.parametrize("raw", [b"", b"  \r\n\r\n", None])
def test_nothing_readable_raises_parse_error(mail_fixture, raw):
    with pytest.raises(ParseError):
        parse_message(mail_fixture("garbage_binary_no_headers.eml") if raw is None else raw)


def test_headerless_text_is_still_a_message():
    message = parse_message(b"just some words someone saved\nfrom a mail\n")
    assert "just some words" in message.text
    assert any("MissingHeaderBodySeparator" in d for d in message.defects)


def test_parsed_message_is_json_ready_and_keeps_the_raw_bytes(mail_fixture):
    raw = mail_fixture("polish_q_encoded_names.eml")
    message = parse_message(raw)
    assert message.raw == raw
    assert json.loads(json.dumps(message.to_json(file="x.eml")))["from"]["name"] == "Józef Ślęzak"
    assert message.header_all("To")[0].startswith("Kowalski, Jan <jan@example.pl>")


def test_one_megabyte_of_quotes_parses(mail_fixture):
    body = ("> " + "quoted line of an old conversation " * 3 + "\n") * 9000
    raw = b"From: a@example.com\r\nSubject: long\r\n\r\nNew text.\r\n" + body.encode()
    message = parse_message(raw)
    assert message.reply_text.strip() == "New text."
