"""MIME structure damaged in transit or by its sender, read as the sender meant it.

Fixtures under tests/fixtures/mail, named by behaviour: a list footer appended after base64
data, parameters without their ";", a boundary that ends in blanks, attached messages that must
keep their bytes as sent, and a charset parameter left holding raw 8-bit bytes by a mended header
block. Properties at the end check that none of this changes well-formed input.
"""

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.parse import parse_message
from mailbridge.parse.transfer import decode_base64


@pytest.fixture
def parse(mail_fixture):
    return lambda name: parse_message(mail_fixture(name))


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_list_footer_after_base64_is_not_decoded_into_the_file_or_the_text(parse):
    message = parse("base64_parts_with_list_footer_appended_polish.eml")
    assert message.text == ("Dzień dobry,\nw załączniku faktura za listopad. Proszę o potwierdzenie "
                            "płatności.\n\nPozdrawiam,\nZofia Wójcik\n")
    [invoice] = message.attachments
    assert (invoice.filename, invoice.payload) == ("faktura.pdf", PDF)
    assert "mime: text after the base64 data left out" in message.defects


@pytest.mark.parametrize("appended, expected", [
    (b"ecO2dMOkIHZhYW4uCg== ignored\n", "yötä vaan.\n"),       # junk after the padding, same line
    (base64.encodebytes("Adiós".encode()) + "-- \nEnviado desde mi móvil\n".encode(),
     "Adiós"),                                                 # a signature appended after it
])
def test_text_appended_after_base64_is_left_out(appended, expected):
    defects: list[str] = []
    assert decode_base64(appended, defects).decode() == expected
    assert defects == ["mime: text after the base64 data left out"]


def test_base64_without_appended_text_is_decoded_whole_without_defect():
    defects: list[str] = []
    data = base64.encodebytes(PDF * 20)
    assert decode_base64(data, defects) == PDF * 20
    assert defects == []


def test_base64_that_is_all_junk_is_still_decoded_leniently():
    # Nothing looks like data, so nothing is cut: the lenient decoder skips what it must.
    defects: list[str] = []
    assert decode_base64(b"?garbage\n", defects) == base64.b64decode(b"garbage=")
    assert defects == ["mime: characters outside base64 skipped"]


def test_boundary_parameter_without_semicolon_still_splits_the_parts(parse):
    message = parse("multipart_boundary_parameter_without_semicolon_polish.eml")
    assert message.text == "Chcę zwrócić zamówienie nr 4512, zdjęcie paragonu w załączniku."
    [receipt] = message.attachments
    assert (receipt.filename, receipt.content_type) == ("paragon.png", "image/png")
    assert receipt.payload == base64.b64decode("iVBORw0KGgo=")


def test_content_type_folded_without_semicolon_names_only_the_type():
    raw = (b"From: a@example.com\r\nContent-Type: text/plain\r\n\tcharset=utf-8\r\n\r\n"
           b"Gracias por su ayuda.\r\n")
    message = parse_message(raw)
    assert message.text == "Gracias por su ayuda.\r\n".replace("\r\n", "\n")
    assert message.attachments == ()


def test_boundary_ending_in_blanks_is_kept_as_declared(parse):
    message = parse("multipart_boundary_ending_in_blanks_spanish.eml")
    # The line with one blank fewer is text, and the epilogue after the closing delimiter is not.
    assert message.text == ("Buenos días, al pulsar «Descargar» la página se queda en blanco.\n"
                            "--=_Parte_7f3a \n"
                            "La línea de arriba no es un límite: le falta un espacio.")
    assert "Epílogo" not in message.text
    assert "mime: boundary ending in blanks kept as declared" in message.defects


def test_boundary_declared_with_blanks_but_written_without_them_still_splits():
    raw = (b"From: a@example.com\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="limite "\r\n\r\n'
           b"--limite\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHola\r\n--limite--\r\n")
    message = parse_message(raw)
    assert message.text == "Hola"
    assert "mime: boundary ending in blanks kept as declared" not in message.defects


def test_charset_parameter_holding_raw_bytes_does_not_crash():
    # The raw 8-bit line lost its indentation, so the mended block folds it into Content-Type,
    # and the charset parameter ends in bytes; the stdlib used to raise UnicodeEncodeError.
    polish = "Zażółć gęślą jaźń".encode("cp1250")
    raw = (b"Content-Type: text/plain; charset=windows-1250\n" + polish +
           b"\nFrom: Jan <jan@example.pl>\n\nFaktura nr 7 " + polish + b"\n")
    message = parse_message(raw)
    assert "Faktura nr 7 Zażółć gęślą jaźń" in message.text


def test_attached_messages_are_kept_byte_for_byte_as_sent(parse, mail_fixture):
    # Written back from the parsed tree, the empty part gained a blank line and the header-only
    # external-body message gained a separator: sizes and checksums no longer matched the sender's.
    raw = mail_fixture("forward_attached_messages_kept_as_sent_spanish.eml")
    message = parse("forward_attached_messages_kept_as_sent_spanish.eml")
    forwarded, external = message.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.payload.startswith(b"From: =?utf-8?q?Jos=C3=A9_Garc=C3=ADa?=")
    assert forwarded.payload.endswith(b"--interior\r\n\r\n--interior--\r\n")
    assert forwarded.payload in raw
    assert external.payload == (b"Content-Type: application/pdf\r\n"
                                b"Content-ID: <albaran-318@cliente.example.es>\r\n")
    assert parse_message(forwarded.payload).subject == "Pedido nº 318"


def test_attached_message_without_closing_delimiter_runs_to_the_end_as_sent():
    raw = (b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: dentro\r\n\r\nHola\r\n")
    [attached] = parse_message(raw).attachments
    assert attached.payload == b"Subject: dentro\r\n\r\nHola\r\n"


def test_nested_message_under_a_transfer_encoding_is_decoded_from_the_raw_body():
    # message/rfc822 may not be base64 (RFC 2046), but senders do it; the raw body is decoded.
    inner = b"Subject: codificado\r\n\r\nCuerpo\r\n"
    raw = (b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(inner).replace(b"\n", b"\r\n") + b"--b--\r\n")
    [attached] = parse_message(raw).attachments
    assert attached.payload == inner


def test_charset_and_filename_without_semicolons_are_still_read(parse):
    message = parse("parameters_without_semicolons_polish_iso88592.eml")
    assert message.text.startswith("Dzień dobry,\nświadczenie zostało opłacone")
    assert not any("charset" in defect for defect in message.defects)  # declared, not guessed
    [proof] = message.attachments
    assert (proof.filename, proof.inline) == ("potwierdzenie_przelewu.pdf", False)


# --- properties: the new paths never change what was well formed --------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_well_formed_base64_is_decoded_whole_and_without_defect(data):
    defects: list[str] = []
    assert decode_base64(base64.encodebytes(data), defects) == data
    assert defects == []


_LINE = st.text(st.characters(min_codepoint=32, max_codepoint=0x17F, blacklist_characters="-"), max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=6), st.sampled_from(["\r\n", "\n"]), st.booleans())
def test_attached_message_payload_is_exactly_the_bytes_between_the_delimiters(lines, newline, empty_body):
    inner = newline.join(["Subject: =?utf-8?q?Reenv=C3=ADo?=", "From: jan@example.pl", "",
                          *([] if empty_body else lines)]).encode()
    raw = newline.join(["From: a@example.com", "MIME-Version: 1.0",
                        'Content-Type: multipart/mixed; boundary="zewn"', "", "--zewn",
                        "Content-Type: text/plain; charset=utf-8", "", "Przesyłam dalej.", "--zewn",
                        "Content-Type: message/rfc822", "", ""]).encode() + inner + \
        newline.join(["", "--zewn--", ""]).encode()
    [attached] = parse_message(raw).attachments
    assert attached.payload == inner
