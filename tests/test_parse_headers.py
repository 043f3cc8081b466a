"""Header decoding: RFC 2047 words, raw 8-bit bytes, addresses, message ids, dates, RFC 2231."""

from datetime import timezone
from email.message import Message

from mailbridge.parse.headers import (decode_header, get_param, parse_addresses, parse_date,
                                      parse_id_list, parse_message_id)
from mailbridge.parse.model import Address


def test_adjacent_encoded_words_join_and_folding_is_removed():
    defects = []
    value = "=?utf-8?q?Za=C5=BC?= =?UTF-8?B?w7PFgsSH?= test\r\n =?iso-8859-2?Q?Gr=B1?="
    assert decode_header(value, defects) == "Zażółć test Grą"
    assert defects == []


def test_multibyte_character_split_across_words_survives():
    # "ł" (c5 82) split between two base64 words, as some encoders do.
    assert decode_header("=?utf-8?B?QsU=?= =?utf-8?B?gmFk?=", []) == "Bład"


def test_raw_8bit_utf8_subject_is_decoded_with_a_defect():
    raw = "Błąd płatności".encode().decode("ascii", "surrogateescape")
    defects = []
    assert decode_header(raw, defects, "subject") == "Błąd płatności"
    assert defects == ["subject: raw 8-bit bytes in header, decoded as utf-8"]


def test_raw_8bit_legacy_header_falls_back():
    raw = "Błąd".encode("cp1250").decode("ascii", "surrogateescape")
    defects = []
    assert decode_header(raw, defects, "subject") == "Błąd"
    assert "windows-1250" in defects[0]


def test_broken_encoded_word_is_kept_not_dropped():
    assert decode_header("Re: =?utf-8?B?broken", []) == "Re: =?utf-8?B?broken"


def test_spanish_subject_with_reply_prefixes():
    assert decode_header("Re: RV: =?ISO-8859-1?Q?Solicitud_de_informaci=F3n?=", []) == \
        "Re: RV: Solicitud de información"


def test_comma_inside_encoded_name_does_not_split_the_address():
    value = '=?utf-8?Q?Kowalski,_Jan?= <jan@x.pl>, "Nowak, Anna" <anna@x.pl>, undisclosed-recipients:;'
    assert parse_addresses(value, []) == (Address("Kowalski, Jan", "jan@x.pl"), Address("Nowak, Anna", "anna@x.pl"))


def test_bare_word_is_a_name_without_address():
    assert parse_addresses("Whomever", []) == (Address("Whomever", ""),)


def test_message_ids_lose_brackets_and_duplicates():
    assert parse_message_id("  <abc@example.com> ") == "abc@example.com"
    assert parse_id_list("<a@b> <c@d>\r\n <a@b>") == ("a@b", "c@d")
    assert parse_id_list('<a@b> (Your message of "Mon")') == ("a@b",)
    assert parse_id_list("a@b") == ("a@b",)
    assert parse_message_id(None) is None
    assert parse_id_list("") == ()


def test_dates_are_aware_and_bad_ones_are_defects():
    defects = []
    assert parse_date("Mon, 3 Jun 2024 10:00:00 -0000", defects).tzinfo == timezone.utc
    assert parse_date("Mon, 3 Jun 2024 10:00:00 +0200", defects).isoformat() == "2024-06-03T10:00:00+02:00"
    assert parse_date("sometime", defects) is None
    assert defects == ["date: unparseable 'sometime'"]
    assert parse_date(None, defects) is None


def test_rfc2231_continuations_and_2047_inside_quotes():
    part = Message()
    part["Content-Disposition"] = ("attachment; filename*0*=utf-8''Faktura%20p%C5%82at; "
                                   "filename*1*=no%C5%9B%C4%87.pdf")
    part["Content-Type"] = 'application/pdf; name="=?utf-8?Q?Za=C5=82=C4=85cznik.pdf?="'
    assert get_param(part, "filename", "content-disposition", []) == "Faktura płatność.pdf"
    assert get_param(part, "name", "content-type", []) == "Załącznik.pdf"
    assert get_param(part, "missing", "content-type", []) is None
