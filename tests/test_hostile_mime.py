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


# Found by tests/test_fuzz.py: each raised out of its stage (parse or store) before its fix.
FUZZ_FINDS = {
    "nul_in_charset_name": b"From: a@example.pl\r\nSubject: x\r\nContent-Type: text/plain; charset=\"utf\x00-8\"\r\n\r\n"
                           b"Dzie\xc5\x84 dobry\r\n",
    "non_ascii_uuencode_line": b"From: a@example.pl\r\nSubject: x\r\n\r\nbegin 644 a.txt\r\n>2&5L;\xc5\xbc&\\@9G\r\n`\r\nend\r\n",
    "eight_bit_media_type": b"From: a@example.pl\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
                            b"boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: "
                            b"image/\xfdpng\r\n\r\nxx\r\n--b--\r\n",
    "non_ascii_sender_address": b"From: J\xc3\xb3zef <j\xc9zef@example.pl>\r\nSubject: x\r\n\r\nDzie\xc5\x84 dobry\r\n",
    "eight_bit_auto_submitted": b"From: Kim <kim@example.org>\r\nSubject: Re: x\r\nAuto-Submitted:\x99 auto-replied\r\n"
                                b"In-Reply-To: <\x99ack-1@example.com>\r\n\r\nI am away\r\n",
    "unreadable_notice_charset": b"From: a@example.pl\r\nSubject: x\r\nContent-Type: text/plain; charset=ISO-8U\xc59-1\r\n"
                                 b"\r\n\xbfPodr\xedan\r\n",
}


@pytest.mark.parametrize("name", sorted(FUZZ_FINDS))
def test_what_the_fuzzer_found_is_stored_or_refused_inside_its_stage(name, tmp_path):
    from datetime import UTC, datetime

    from serve_support import make_config

    from mailbridge import pipeline
    from mailbridge.store.db import open_database

    db = open_database(f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}")
    try:
        now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        outcome = pipeline.ingest(FUZZ_FINDS[name], db=db, config=make_config(tmp_path, db), now=now,
                                  source="test", received_at=now, envelope_rcpts=("pomoc-dynamics@example.com",))
    finally:
        db.dispose()
    assert outcome.kind != "quarantined", outcome


def test_a_nested_message_the_stdlib_generator_refuses_is_written_out_as_read():
    from email.message import Message

    from mailbridge.parse.transfer import _flattened

    inner = Message()
    inner._headers.append(("Date", "Sun, 22 Nov 2026 10\n00:00 +0100"))  # what a fuzzed header left
    inner.set_payload("body")
    defects: list[str] = []
    data = _flattened(inner, defects)
    assert b"body" in data and b"Date: " in data
    assert defects == ["mime: a nested message could not be written out as is (HeaderParseError)"]


def test_thousands_of_group_colons_in_an_address_header_do_not_exhaust_the_recursion_limit():
    parsed = parse_message(b"From: " + b"rom:" * 3000 + b" jan@example.pl\r\nTo: b@example.com\r\nSubject: x\r\n\r\nhi\r\n")
    assert parsed.subject == "x"
