"""Hostile MIME found by a probe: non-text codecs as charsets, CR/LF in decoded headers, JSON line separators."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mailbridge.outgoing.templates import mail_context, split_subject
from mailbridge.parse import parse_message

# Codec names Python knows that are no text charset: each crashed parsing with LookupError or
# UnicodeError before they were treated as unknown charsets.
NOT_CHARSETS = ["base64", "idna", "punycode", "rot13", "uu", "zlib", "hex", "bz2", "quopri", "undefined",
                "unicode_escape"]


def mail(headers: str, body: bytes = b"Dzie\xc5\x84 dobry\r\n") -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n").encode() + body


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_a_codec_that_is_no_charset_in_an_encoded_word_is_an_unknown_charset(charset):
    raw = mail(f"From: a@example.pl\nSubject: =?{charset}?Q?B=C5=82=C4=85d_p=C5=82atno=C5=9Bci?=\n")
    parsed = parse_message(raw)
    assert parsed.subject == "Błąd płatności"
    assert any("unknown" in defect and charset in defect for defect in parsed.defects)


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_a_codec_that_is_no_charset_on_a_body_or_a_filename_is_an_unknown_charset(charset):
    raw = mail("From: cliente@empresa.co\nSubject: hola\nMIME-Version: 1.0\n"
               "Content-Type: multipart/mixed; boundary=b\n",
               (f"--b\r\nContent-Type: text/plain; charset={charset}\r\n\r\nEl se\xc3\xb1or escribi\xc3\xb3\r\n"
                f"--b\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Disposition: attachment; filename*={charset}''factura%20ma%C3%B1ana.pdf\r\n\r\n"
                f"x\r\n--b--\r\n").encode("latin-1"))
    parsed = parse_message(raw)
    assert "El señor escribió" in parsed.text
    assert parsed.attachments[0].filename == "factura mañana.pdf"


def test_a_codec_that_is_no_charset_is_not_an_internal_error_in_mailbridge_parse(tmp_path):
    path = tmp_path / "rot13.eml"
    path.write_bytes(mail("From: a@example.pl\nSubject: =?rot13?Q?Onq?=\n"))
    result = subprocess.run([sys.executable, "-m", "mailbridge", "parse", "--json", str(path)],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout
    assert "error" not in json.loads(result.stdout)


@pytest.mark.parametrize("header", [
    "Subject: =?utf-8?Q?Faktura=0D=0ABcc:_evil@example.org?=",
    "Subject: =?utf-8?B?RmFrdHVyYQ0KDQpCY2M6IGV2aWxAZXhhbXBsZS5vcmc=?=",
])
def test_a_cr_or_lf_in_a_decoded_subject_is_flattened(header):
    parsed = parse_message(mail(f"From: a@example.pl\n{header}\n"))
    assert "\r" not in parsed.subject and "\n" not in parsed.subject
    assert parsed.subject.startswith("Faktura") and "evil@example.org" in parsed.subject


def test_a_cr_or_lf_in_a_decoded_display_name_is_flattened():
    parsed = parse_message(mail("From: =?utf-8?Q?Jan=0D=0AKowalski?= <jan@example.pl>\nSubject: x\n"))
    assert parsed.from_.name == "Jan Kowalski"


def test_template_values_from_mail_are_one_line_but_the_message_text_keeps_its_lines():
    from types import SimpleNamespace

    queue = SimpleNamespace(name="dynamics", label="Dynamics", address="pomoc@example.com")
    context = mail_context(ticket={"subject": "Faktura\r\n\r\nBcc: x"}, queue=queue,
                           customer={"name": "Jan\nKowalski"},
                           message={"subject": "a\u2028b", "text": "line 1\nline 2"}, reopen_window_days=7)
    assert context["ticket"]["subject"] == "Faktura Bcc: x"
    assert context["customer"]["name"] == "Jan Kowalski"
    assert context["message"]["subject"] == "a b"
    assert context["message"]["text"] == "line 1\nline 2"
    subject, body = split_subject(f"[DYN-1] {context['ticket']['subject']}\n\nbody", "ack.pl.txt")
    assert subject == "[DYN-1] Faktura Bcc: x"


def test_parse_json_escapes_line_separators_so_every_reader_sees_one_object_per_line(tmp_path):
    path = tmp_path / "separators.eml"
    path.write_bytes(mail("From: a@example.pl\nSubject: x\nContent-Type: text/plain; charset=utf-8\n",
                          "uno\u2028dos\u2029tres\x85cuatro\r\n".encode("utf-8")))
    result = subprocess.run([sys.executable, "-m", "mailbridge", "parse", "--json", str(path), str(path)],
                            capture_output=True, timeout=60)
    text = result.stdout.decode("utf-8")
    lines = text.splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["text"].startswith("uno\u2028dos\u2029tres\x85cuatro")
    assert "\u2028" not in text and "\x85" not in text
