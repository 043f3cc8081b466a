"""Every hostile shape a probe sent parses within the deadline and in memory proportional to its size, with a defect saying what was cut."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from serve_support import make_config, message

from bench import hostile
from mailbridge import pipeline
from mailbridge.intake import durable
from mailbridge.parse import parse_message
from mailbridge.parse.htmltext import html_to_text
from mailbridge.parse.limits import PARSE_SECONDS, ParseTimeout, time_limit

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
MB = 1024 * 1024
# What each case must say it did (the defect), at the size the probe used.
EXPECTED_DEFECT = {
    "folded_subject": "header field(s) longer than",
    "blank_lines": "lines; the body is kept as one part",
    "short_lines_multipart": "lines; the body is kept as one part",
    "rfc2231_continuations": "parameters longer than",
    "dsn_blocks": "delivery-status report of more than",
    "qp_soft_breaks": "lines; the body is kept as one part",
    "header_line": "header field(s) longer than",
    "many_addresses": "header field(s) longer than",
    "encoded_word": "header field(s) longer than",
    "html_table": "html: too large to render",
}


@pytest.mark.parametrize("case", sorted(EXPECTED_DEFECT))
def test_a_hostile_message_parses_within_the_deadline_and_four_times_its_size(case):
    # In a fresh process, for its peak memory; the parse itself runs under the product's deadline.
    result = hostile.measure(case, deadline=PARSE_SECONDS)
    assert "error" not in result, result
    assert result["rss_growth_mb"] < 4 * result["bytes"] / MB + 64, result
    assert any(EXPECTED_DEFECT[case] in defect for defect in result["defect_lines"]), result


def test_a_big_html_table_is_rendered_cheaply_with_every_cell_kept():
    row = "<tr>" + "".join(f"<td>k{n}&amp;</td>" for n in range(40)) + "</tr>\n"
    text, defect = html_to_text("<table>" + row * 2000 + "</table>")
    assert defect and "too large to render" in defect
    assert "k0& k1& k2&" in text and text.count("\n") >= 2000


def test_html_within_the_bounds_is_still_rendered_by_inscriptis():
    text, defect = html_to_text("<p>Dzień dobry</p><blockquote>stare</blockquote>")
    assert defect is None and "> stare" in text


def test_the_deadline_interrupts_a_slow_stage():
    started = time.monotonic()
    with pytest.raises(ParseTimeout), time_limit(0.2):
        while True:
            sum(range(1000))
    assert time.monotonic() - started < 5


def test_a_message_that_parses_too_long_is_quarantined_and_the_next_one_goes_on(tmp_path, database, monkeypatch):
    config = make_config(tmp_path, database)
    slow, fine = (durable.accept_raw(message(subject), db=database, source="smtp", received_at=NOW,
                                     envelope_rcpts=("pomoc-dynamics@example.com",))[0]
                  for subject in ("Powolna", "Zwykła"))
    real_parse = pipeline.parse_message

    def parse(raw):
        if b"Powolna" in raw:
            time.sleep(30)
        return real_parse(raw)

    monkeypatch.setattr(pipeline, "parse_message", parse)
    monkeypatch.setattr(pipeline, "PARSE_SECONDS", 0.3)
    outcome = pipeline.process(slow, db=database, config=config, now=NOW)
    assert (outcome.kind, outcome.stage) == ("quarantined", "parse")
    assert "took longer than 0.3 s" in outcome.error
    assert pipeline.process(fine, db=database, config=config, now=NOW).kind == "created"


def test_ordinary_mail_gets_no_bound_defect(mail_fixture):
    parsed = parse_message(message("Zwykła wiadomość", body="Dzień dobry\r\n" * 1000))
    assert not [d for d in parsed.defects if "longer than" in d or "more than" in d]
