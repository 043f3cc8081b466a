"""Undeclared and mislabelled charsets: the message's own declarations first, then a real guess."""

from __future__ import annotations

import pytest

from mailbridge.parse import parse_message
from mailbridge.parse.charset import decode_text, normalise_charset

# Our own sentences in the charsets legacy clients still send, each long (a body) and short
# (a subject): the guess must read them back without any label.
WRITTEN = [
    ("Dzień dobry, proszę o pilną naprawę drukarki, błąd płatności wraca.", "windows-1250"),
    ("Zgłoszenie: faktura źle naliczona", "iso-8859-2"),
    ("Buenos días, ¿podría revisar la factura Nº 45 del señor Muñoz?", "windows-1252"),
    ("¿Dónde está mi pedido?", "iso-8859-1"),
    ("Здравствуйте, прошу проверить счёт, оплата не прошла.", "windows-1251"),
    ("Счёт не оплачен", "koi8-r"),
    ("您好，我们的订单还没有收到，请尽快处理。", "gbk"),
    ("订单没有收到", "gb2312"),
    ("您好，我們的訂單還沒有收到，請儘快處理。", "big5"),
    ("請求書の件でご連絡いたしました。よろしくお願いいたします。", "shift_jis"),
    ("請求書の件", "cp932"),
    ("안녕하세요, 주문한 상품이 아직 도착하지 않았습니다.", "euc-kr"),
    ("확인 부탁드립니다", "euc-kr"),
]


@pytest.mark.parametrize("text, charset", WRITTEN)
def test_undeclared_legacy_text_is_read_back(text, charset):
    decoded, defect = decode_text(text.encode(charset), None)
    assert decoded == text
    assert defect is not None and "decoded as" in defect


def test_raw_8bit_subject_takes_the_charset_the_body_declares_polish(mail_fixture):
    message = parse_message(mail_fixture("charset_raw_8bit_subject_polish_body_declares_windows1250.eml"))
    assert message.subject == "Błąd płatności za fakturę"
    assert message.from_.name == "Paweł Wiśniewski"
    assert any("declared elsewhere in the message" in d for d in message.defects)


def test_raw_8bit_subject_numero_sign_is_not_read_as_s_cedilla_spanish(mail_fixture):
    message = parse_message(mail_fixture("charset_raw_8bit_subject_spanish_numero_body_declares_windows1252.eml"))
    assert message.subject == "Pedido Nº 45: ¿dónde está?"


def test_a_us_ascii_label_over_8bit_bytes_is_ignored_with_a_defect(mail_fixture):
    message = parse_message(mail_fixture("charset_us_ascii_label_over_polish_iso88592.eml"))
    assert message.text == "Raport nie odświeża się od środy, źle liczy sumę.\n"
    assert any("'us-ascii' over 8-bit bytes" in d for d in message.defects)


def test_utf7_encoded_words_and_bodies_are_decoded(mail_fixture):
    message = parse_message(mail_fixture("charset_utf7_encoded_word_and_body_spanish.eml"))
    assert message.from_.name == "María"
    assert message.subject == "Información pendiente"
    assert message.text == "Hola, la configuración no se guardó. Gracias.\n"


@pytest.mark.parametrize("label, codec", [
    ("x-koi8-r", "koi8-r"), ("x-iso-8859-2", "iso-8859-2"), ("unicode-1-1-utf-7", "utf-7"),
    ("x-euc-jp", "euc-jp"), ("windows-949", "cp949"), ("GB_2312-80", "gb18030"),
])
def test_x_names_and_aliases_reach_a_codec(label, codec):
    assert normalise_charset(label) == codec


def test_iso_2022_jp_with_windows_extensions_keeps_the_numero_sign():
    data = "件名№41 ①".encode("cp932")
    # The same characters as Windows writes them in ISO-2022-JP (JIS X 0208 with NEC row 13).
    jis = b"\x1b$B7oL>-b\x1b(B41 \x1b$B-!\x1b(B"
    assert decode_text(jis, "iso-2022-jp") == ("件名№41 ①", None)
    assert data.decode("cp932") == "件名№41 ①"


def test_a_hint_loses_to_a_clearly_better_reading():
    # A Polish body declared windows-1250 does not make a KOI8-R Russian subject Polish.
    text = "Счёт не оплачен, прошу проверить"
    decoded, _ = decode_text(text.encode("koi8-r"), None, hints=("windows-1250",))
    assert decoded == text


@pytest.mark.parametrize("text, charset", [
    ("Dzień dobry, proszę o pilną naprawę drukarki.", "windows-1250"),
    ("Zgłoszenie: źle działa, proszę", "iso-8859-2"),
])
def test_polish_under_a_western_label_is_read_as_polish(text, charset):
    decoded, defect = decode_text(text.encode(charset), "iso-8859-1")
    assert decoded == text
    assert defect == f"charset: declared 'iso-8859-1' but the text reads as {charset}"


@pytest.mark.parametrize("text", [
    "Buenos días, ¿podría revisar la factura Nº 45 del señor Muñoz?",
    "Grüße aus München, schöne Straße",
    "Ça coûte très cher, à bientôt",
])
def test_western_text_under_a_western_label_stays_as_declared(text):
    assert decode_text(text.encode("windows-1252"), "iso-8859-1") == (text, None)
