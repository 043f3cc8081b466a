"""The MIME walk: which parts are body and which are attachments; format=flowed; safe file names."""

import pytest

from mailbridge.parse import parse_message
from mailbridge.parse.filenames import safe_filename
from mailbridge.parse.flowed import unflow
from mailbridge.parse.uuencode import extract_uuencoded


def mime(content_type: str, *parts: str, headers: str = "") -> bytes:
    """A message whose multipart body holds `parts` (each: headers, blank line, body)."""
    body = "".join(f"--b\r\n{part}\r\n" for part in parts) + "--b--\r\n"
    return (f"From: a@example.com\r\nSubject: t\r\n{headers}MIME-Version: 1.0\r\n"
            f'Content-Type: {content_type}; boundary="b"\r\n\r\n{body}').encode()


PLAIN = "Content-Type: text/plain; charset=utf-8\r\n\r\nplain words"
HTML = "Content-Type: text/html; charset=utf-8\r\n\r\n<p>html words</p>"
IMAGE = "Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo="


def test_alternative_gives_plain_text_and_keeps_the_html():
    message = parse_message(mime("multipart/alternative", PLAIN, HTML))
    assert message.text == "plain words"
    assert message.html == "<p>html words</p>"
    assert message.attachments == ()


def test_html_only_alternative_is_rendered():
    message = parse_message(mime("multipart/alternative", HTML))
    assert message.text.strip() == "html words"


def test_apple_mail_text_image_text_keeps_both_texts_and_the_image():
    second = "Content-Type: text/plain; charset=utf-8\r\n\r\nafter the picture"
    message = parse_message(mime("multipart/mixed", PLAIN, IMAGE, second))
    assert message.text == "plain words\nafter the picture\n"
    assert [a.content_type for a in message.attachments] == ["image/png"]


def test_named_text_file_after_the_body_is_an_attachment():
    named = 'Content-Type: text/plain; name="log.txt"\r\nContent-Disposition: attachment\r\n\r\nlog line'
    message = parse_message(mime("multipart/mixed", PLAIN, named))
    assert message.text == "plain words"
    assert [(a.filename, a.payload) for a in message.attachments] == [("log.txt", b"log line")]


def test_calendar_alternative_is_an_attachment():
    calendar = "Content-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR"
    message = parse_message(mime("multipart/alternative", PLAIN, calendar))
    assert message.text == "plain words"
    assert [a.content_type for a in message.attachments] == ["text/calendar"]


def test_transfer_encoding_with_trailing_blanks_is_still_decoded():
    part = "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64   \r\n\r\naGVsbG8="
    assert parse_message(mime("multipart/mixed", part)).text == "hello"


def test_missing_boundary_reads_the_body_as_text():
    raw = b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nstill readable\r\n"
    message = parse_message(raw)
    assert "still readable" in message.text
    assert any("boundary" in d.lower() for d in message.defects)


@pytest.mark.parametrize("depth", [200, 3000])
def test_hostile_nesting_does_not_blow_the_stack(depth):
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    closing = "".join(f"\r\n--b{i}--" for i in reversed(range(depth)))
    raw = f"From: a@example.com\r\n{opening}Content-Type: text/plain\r\n\r\ndeep{closing}\r\n".encode()
    message = parse_message(raw)
    assert message.text or message.attachments


def test_unflow_joins_soft_breaks_per_quote_depth():
    assert unflow("one \ntwo\n> a \n> b\n", delsp=False) == "one two\n> a b\n"
    assert unflow("split wo \nrd\n", delsp=True) == "split word\n"
    assert unflow("-- \nsig\n") == "-- \nsig\n"


def test_uuencode_extraction_without_end_keeps_the_text():
    text = "begin 644 x.bin\nM86)C\n"
    assert extract_uuencoded(text) == (text, [])


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
    ("C:\\TEMP\\photo.png", "photo.png"),
    ("report\x00.pdf.exe", "report.pdf.exe"),
    ("invoice\u202egnp.exe", "invoicegnp.exe"),
    ("..", "fallback.bin"),
    ("   ", "fallback.bin"),
    (None, "fallback.bin"),
    (".htaccess", "htaccess"),
    ("CON.txt", "_CON.txt"),
    ("nul", "_nul"),
    ('what?<>|":*.txt', "what_______.txt"),
    ("Faktura płatność.pdf", "Faktura płatność.pdf"),
])
def test_safe_filename(name, expected):
    assert safe_filename(name, "fallback.bin") == expected


def test_safe_filename_bounds_length_and_keeps_the_extension():
    name = safe_filename("ż" * 300 + ".pdf", "x")
    assert name.endswith(".pdf")
    assert len(name.encode()) <= 200
