"""SMS text rules: GSM-7 against UCS-2, segment counts at the edges, transliteration and fitting."""

from __future__ import annotations

import pytest

from mailbridge.escalation.sms.text import fit, segments, transliterate


@pytest.mark.parametrize(("text", "encoding", "units", "count"), [
    ("DYN-000123 dynamics KRYTYCZNE: bez odpowiedzi 5m", "GSM-7", 48, 1),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    # The extension table costs two septets a character.
    ("€" * 80, "GSM-7", 160, 1),
    ("[" * 81, "GSM-7", 162, 2),
    # Letters GSM-7 has: é, ñ, ü, à, ¿, ¡ (Spanish without its acute vowels).
    ("¿Señor Müller? ¡Atención à é!", "UCS-2", 29, 1),
    ("¿Señor Müller? ¡Ñandú!", "UCS-2", 22, 1),
    ("Señor Muller", "GSM-7", 12, 1),
    # One Polish letter makes the whole text UCS-2: 70 units, 67 per part.
    ("Zgłoszenie", "UCS-2", 10, 1),
    ("ą" * 70, "UCS-2", 70, 1),
    ("ą" * 71, "UCS-2", 71, 2),
    ("ą" * 134, "UCS-2", 134, 2),
    ("ą" * 135, "UCS-2", 135, 3),
    ("Sí", "UCS-2", 2, 1),
    # Outside the BMP a character is two UTF-16 units.
    ("🔥" * 35, "UCS-2", 70, 1),
    ("🔥" * 36, "UCS-2", 72, 2),
])
def test_segments(text, encoding, units, count):
    found = segments(text)
    assert (found.encoding, found.units, found.count) == (encoding, units, count)


@pytest.mark.parametrize(("text", "plain"), [
    ("Zażółć gęślą jaźń ŁÓDŹ", "Zazolc gesla jazn LODZ"),
    ("Atención: falla crítica, ¿qué pasó?", "Atencion: falla critica, ¿qué paso?"),
    ("Señor Müller é à", "Señor Müller é à"),
    ("„cudzysłów” – myślnik…", '"cudzyslow" - myslnik...'),
])
def test_transliteration_keeps_what_gsm7_has(text, plain):
    assert transliterate(text) == plain
    assert segments(transliterate(text)).encoding == "GSM-7"


def test_a_polish_text_fits_one_segment_only_when_transliterated():
    text = "DYN-000123 Pomoc Dynamics KRYTYCZNE: zgłoszenie bez odpowiedzi od 2h05m, termin minął 1h05m temu."
    assert segments(text).count == 2
    kept = fit(text)
    assert segments(kept).count == 1 and segments(kept).units <= 70 and kept.endswith("…")
    assert kept.startswith("DYN-000123 Pomoc Dynamics KRYTYCZNE")
    whole = fit(text, transliterated=True)
    assert whole == transliterate(text) and segments(whole).encoding == "GSM-7"


def test_fit_keeps_more_segments_when_allowed_and_makes_one_line():
    text = "linia\n  druga " + "x" * 200
    assert fit(text, max_segments=2) == "linia druga " + "x" * 200
    cut = fit("a" * 400, max_segments=2)
    assert len(cut) == 306 and cut.endswith("...")
