"""Fuzzing the parser and the pipeline with hypothesis: raw bytes and mutated real mail never escape their stage, nor its bounds.

Bounded in CI (MAILBRIDGE_FUZZ_EXAMPLES, default 120 per test); a longer run is the same tests
with a bigger number, e.g. `MAILBRIDGE_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py`. Seeds are
our own fixtures and, when ../shared/corpus is present, messages from it (marked `corpus`).
"""

from __future__ import annotations

import os
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_support import make_config

from conftest import CORPUS, MAIL_FIXTURES
from mailbridge import pipeline
from mailbridge.errors import ParseError
from mailbridge.intake import durable
from mailbridge.parse import parse_message
from mailbridge.parse.limits import PARSE_SECONDS, time_limit
from mailbridge.store.db import open_database

EXAMPLES = int(os.environ.get("MAILBRIDGE_FUZZ_EXAMPLES", "120"))
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
OWN_SEEDS = sorted(MAIL_FIXTURES.glob("*.eml"))
# Pieces a hostile sender splices into mail: each one broke some parser once.
HOSTILE = [b"\x00", b"\r", b"\n", b"\r\n\r\n", b"=?rot13?Q?x?=", b"=?undefined?B?QUJD?=", b"=?utf-8?Q?a=0D=0Ab?=",
           "\u2028".encode(), b"\xc0\xff", b"Content-Type: multipart/mixed; boundary=x\r\n",
           b"--x\r\n", b"--x--\r\n", b"Content-Transfer-Encoding: base64\r\n", b"=\r\n" * 50,
           b"; filename*0*=utf-8''a%FF; filename*1=b", b"<" * 200, b"\t" * 300, b"a" * 5000,
           b"Content-Type: message/rfc822\r\n\r\n", b"Content-Type: text/html\r\n\r\n<table><tr><td>"]


def _corpus_seeds(limit: int = 300) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".eml", ".msg", ".txt", "")
                   and p.stat().st_size < 200_000)
    return files[:: max(1, len(files) // limit)][:limit]


@st.composite
def mutated(draw, seeds: list[Path]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["insert", "delete", "flip", "truncate", "repeat"]))
        if operation == "insert":
            data[at:at] = draw(st.sampled_from(HOSTILE))
        elif operation == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif operation == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif operation == "truncate":
            del data[at:]
        elif operation == "repeat":
            data[at:at] = bytes(data[at:at + 80]) * draw(st.integers(2, 50))
    return bytes(data)


def parses_within_bounds(raw: bytes) -> None:
    """parse_message returns or raises ParseError, under the deadline, in memory bounded by its size."""
    tracemalloc.start()
    try:
        with time_limit(PARSE_SECONDS):
            parse_message(raw)
    except ParseError:
        pass  # the one expected failure: nothing readable (a timeout is one too, and fails below)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 4 * len(raw) + 16 * 1024 * 1024


@FUZZ
@given(st.binary(max_size=8192))
def test_raw_bytes_never_escape_the_parser(raw):
    parses_within_bounds(raw)


@FUZZ
@given(mutated(OWN_SEEDS))
def test_mutated_fixtures_never_escape_the_parser(raw):
    parses_within_bounds(raw)


@pytest.mark.corpus
def test_mutated_corpus_mail_never_escapes_the_parser(corpus_dir):
    seeds = _corpus_seeds()

    @FUZZ
    @given(mutated(seeds))
    def run(raw):
        parses_within_bounds(raw)

    run()


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz")
    db = open_database(f"sqlite:///{directory / 'mailbridge.sqlite3'}")
    yield db, make_config(directory, db)
    db.dispose()


@settings(FUZZ, max_examples=max(20, EXAMPLES // 4))
@given(mutated(OWN_SEEDS))
def test_mutated_mail_through_the_pipeline_is_stored_or_quarantined_never_raised(sqlite_world, raw):
    db, config = sqlite_world
    row, created = durable.accept_raw(raw, db=db, source="fuzz", received_at=NOW,
                                      envelope_rcpts=("pomoc-dynamics@example.com",))
    if not created:
        return
    outcome = pipeline.process(row, db=db, config=config, now=NOW)
    assert outcome.kind in ("created", "threaded", "duplicate", "dropped", "quarantined")
    if outcome.kind == "quarantined":
        # Only a stage that judges the mail may refuse it; a crash of our own code is a bug.
        assert outcome.stage == "parse" and outcome.error.startswith(("ParseError", "ParseTimeout")), outcome
    assert durable.get_raw(db, row.id).state in ("done", "quarantined")
