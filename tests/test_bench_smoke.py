"""The benchmark's mail generator is deterministic and realistic, and the benchmark script runs."""

import email
import email.policy
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench import mailgen

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = 300


@pytest.fixture(scope="module")
def mails():
    return list(mailgen.iter_mails(SAMPLE, seed=11))


@pytest.fixture(scope="module")
def parsed(mails):
    return [email.message_from_bytes(m.raw, policy=email.policy.default) for m in mails]


def test_same_seed_gives_the_same_bytes():
    assert mailgen.generate(60, seed=5) == mailgen.generate(60, seed=5)


def test_another_seed_gives_other_mail():
    assert mailgen.generate(20, seed=5) != mailgen.generate(20, seed=6)


def test_the_iterator_yields_what_generate_returns():
    assert list(mailgen.iter_messages(30, seed=2)) == mailgen.generate(30, seed=2)


def test_languages_are_mixed_as_claimed(mails):
    shares = Counter(m.language for m in mails)
    assert set(shares) == {"pl", "es", "en"}
    # Weights are 40/30/30; bounces (always English) move a few points towards English.
    assert 0.30 * SAMPLE < shares["pl"] < 0.50 * SAMPLE
    assert 0.20 * SAMPLE < shares["es"] < 0.40 * SAMPLE
    assert 0.20 * SAMPLE < shares["en"] < 0.45 * SAMPLE


def test_every_kind_and_product_address_occurs(mails):
    kinds = Counter(m.kind for m in mails)
    assert set(kinds) == set(mailgen.KINDS)
    assert kinds["plain"] > kinds["bounce"]
    assert {m.recipient for m in mails} == set(mailgen.PRODUCT_ADDRESSES)


def test_legacy_charsets_occur(mails):
    charsets = Counter(m.charset for m in mails)
    assert {"windows-1250", "iso-8859-2", "iso-8859-1", "utf-8"} <= set(charsets)


def test_subjects_come_encoded_and_sometimes_as_raw_utf8(mails):
    heads = [m.raw.split(b"\r\n\r\n", 1)[0] for m in mails]
    assert any(b"Subject: =?" in head for head in heads)
    assert any(re.search(rb"^Subject: [^\r\n]*[\x80-\xff]", head, re.M) for head in heads)


def test_every_message_parses_without_defects(mails, parsed):
    for mail, message in zip(mails, parsed):
        defects = [d for part in message.walk() for d in part.defects]
        for name in ("From", "To", "Cc", "Subject"):
            if message[name] is not None:
                defects.extend(message[name].defects)
        assert defects == [], (mail.kind, mail.message_id, defects)


def test_wire_format_is_crlf_with_short_lines(mails):
    for mail in mails:
        assert b"\n" not in mail.raw.replace(b"\r\n", b"")
        assert max(len(line) for line in mail.raw.split(b"\r\n")) <= 998


def test_attachments_are_10_to_200_kb_once_decoded(mails, parsed):
    sizes = [len(part.get_content()) for mail, message in zip(mails, parsed) if mail.kind == "attachment"
             for part in message.iter_attachments()]
    assert sizes
    assert all(10_000 <= size <= 201_000 for size in sizes)


def test_replies_point_at_earlier_generated_messages(mails, parsed):
    earlier: set[str] = set()
    replies = 0
    for mail, message in zip(mails, parsed):
        if mail.kind in ("reply", "outlook-reply"):
            replies += 1
            assert message["In-Reply-To"]
            assert set(str(message["References"]).split()) & earlier
        earlier.add(mail.message_id)
    assert replies > 0


def test_quoted_history_uses_each_languages_header(mails, parsed):
    bodies = {"pl": "", "es": "", "en": ""}
    for mail, message in zip(mails, parsed):
        if mail.kind in ("reply", "outlook-reply"):
            bodies[mail.language] += message.get_body(("plain",)).get_content()
    assert "napisał(a):" in bodies["pl"] and "Wysłano:" in bodies["pl"]
    assert "escribió:" in bodies["es"] and "Enviado el:" in bodies["es"]
    assert "wrote:" in bodies["en"] and "Sent:" in bodies["en"]


def test_auto_replies_and_bounces_look_like_real_ones(mails, parsed):
    for mail, message in zip(mails, parsed):
        if mail.kind == "bounce":
            assert message.get_content_type() == "multipart/report"
            assert message.get_param("report-type") == "delivery-status"
        if mail.kind == "auto-reply":
            assert message["In-Reply-To"]


def test_benchmark_runs_and_prints_both_rates(tmp_path):
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.parse_bench", "--messages", "20", "--rounds", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"mailbridge:\s+\d+ messages/s", result.stdout)
    assert re.search(r"stdlib:\s+\d+ messages/s", result.stdout)
    assert re.search(r"ratio:\s+\d+\.\d\d", result.stdout)
    figures = json.loads(out.read_text())
    assert figures["messages"] == 20
    assert figures["mailbridge"]["errors"] == {}


def test_mailbridge_reads_generated_mail_as_it_was_generated(mails):
    # The benchmark only means something if mailbridge gets this mail right, not just fast.
    from mailbridge.parse import parse_message

    for mail in mails[:150]:
        parsed = parse_message(mail.raw)
        where = (mail.kind, mail.language, mail.charset, mail.message_id)
        assert parsed.language == mail.language, where
        assert "=?" not in parsed.subject and "\ufffd" not in parsed.subject, where
        kind = parsed.auto.kind if parsed.auto else None
        if mail.kind == "bounce":
            assert kind in ("bounce", "delay") and parsed.bounce.recipients, where
        else:
            assert kind == ("auto-reply" if mail.kind == "auto-reply" else None), where
        if mail.kind in ("reply", "outlook-reply"):
            assert parsed.in_reply_to and parsed.references, where
            assert parsed.reply_text.strip(), where
            for marker in ("napisał(a):", "escribió:", "wrote:", "Wysłano:", "Enviado el:", "Sent:", "\n>"):
                assert marker not in parsed.reply_text, (where, marker)
        if mail.kind == "attachment":
            assert any(not a.inline and 10_000 <= a.size <= 201_000 for a in parsed.attachments), where


def test_startup_benchmark_times_every_command_once():
    from bench import startup

    figures = startup.measure(repeats=1)
    assert set(figures) == {"python -c pass", "mailbridge --help", "mailbridge parse FILE --json",
                            "mailbridge tickets list"}
    assert all(row["runs"] == 1 and row["median"] == row["p90"] > 0 for row in figures.values())
