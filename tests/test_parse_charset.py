"""The charset fallback chain: declared charset, aliases, UTF-8, then the most plausible legacy one."""

import pytest

from mailbridge.parse.charset import best_legacy, decode_text, normalise_charset

POLISH = "Zażółć gęślą jaźń. Błąd płatności, proszę o kontakt."
SPANISH = "¿Qué tal? Solicitud de información, España, año."


@pytest.mark.parametrize("charset", ["windows-1250", "iso-8859-2"])
def test_undeclared_polish_is_read_in_the_legacy_charset_that_fits(charset):
    text, defect = decode_text(POLISH.encode(charset), None)
    assert text == POLISH
    assert defect == f"charset: none declared, decoded as {charset}"


def test_undeclared_spanish_is_read_as_windows_1252():
    text, defect = decode_text(SPANISH.encode("windows-1252"), None)
    assert text == SPANISH
    assert "windows-1252" in defect


def test_declared_charset_that_fits_gives_no_defect():
    assert decode_text(POLISH.encode("iso-8859-2"), "ISO-8859-2") == (POLISH, None)


def test_wrong_declared_charset_falls_back_with_a_defect():
    text, defect = decode_text("Błąd płatności".encode("cp1250"), "utf-8")
    assert text == "Błąd płatności"
    assert defect == "charset: declared 'utf-8' does not fit, decoded as windows-1250"


def test_utf8_mixed_with_legacy_bytes_keeps_both():
    text, defect = decode_text("żółw ".encode() + "żółw".encode("cp1250"), "utf-8")
    assert text == "żółw żółw"
    assert "mixed with windows-1250" in defect


@pytest.mark.parametrize("label", ["x-foo", "unknown-8bit", "x-unknown", "%%%"])
def test_unknown_or_empty_labels_never_raise(label):
    text, defect = decode_text("Café".encode(), label)
    assert text == "Café"
    assert "decoded as utf-8" in defect


def test_utf8_mislabelled_as_latin1_is_caught():
    text, defect = decode_text("Łódź".encode(), "iso-8859-1")
    assert text == "Łódź"
    assert "but the text is utf-8" in defect


def test_latin1_label_reads_windows_1252_punctuation():
    assert decode_text(b"\x93quoted\x94 \x80", "iso-8859-1") == ("“quoted” €", None)


@pytest.mark.parametrize("label, expected", [("utf8", "utf-8"), ("cp-1250", "windows-1250"),
                                             ("ks_c_5601-1987", "cp949"), ("x-unknown", None),
                                             ('"UTF-8"', "utf-8"), ("utf-8*pl", "utf-8"), ("", None)])
def test_aliases(label, expected):
    assert normalise_charset(label) == expected


def test_utf7_and_iso_2022_jp_decode():
    assert decode_text("Zażółć".encode("utf-7"), "UTF-7") == ("Zażółć", None)
    assert decode_text("日本語です".encode("iso2022_jp"), "ISO-2022-JP") == ("日本語です", None)


def test_truncated_utf16_keeps_the_declared_reading():
    text, defect = decode_text("Test message\n".encode("utf-16-le") + b"\x00", "utf-16le")
    assert text.startswith("Test message\n")
    assert "undecodable" in defect


def test_spanish_question_mark_is_not_read_as_polish_z():
    assert best_legacy("¿Qué? ¡Sí!".encode("cp1252")) == "windows-1252"
