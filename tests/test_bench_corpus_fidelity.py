"""bench/corpus_columns.py and bench/charset_eval.py run on the shared corpus and print their tables."""

from __future__ import annotations

import json

import pytest

from bench import charset_eval, corpus_columns

pytestmark = pytest.mark.corpus


def test_corpus_columns_prints_every_column_and_writes_json(corpus_dir, tmp_path, capsys):
    out = tmp_path / "columns.json"
    assert corpus_columns.main(["--json", str(out)]) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert list(figures) == list(corpus_columns.COLUMNS)
    assert all(column in printed for column in corpus_columns.COLUMNS)
    # The parse column counts every file of every set; nothing may crash.
    assert figures["parse"]["passed"] == figures["parse"]["total"] > 900


def test_charset_eval_scores_the_shipped_decoder(corpus_dir, capsys):
    assert charset_eval.main(["--method", "shipped"]) == 0
    printed = capsys.readouterr().out
    assert "shipped" in printed and "written short" in printed
