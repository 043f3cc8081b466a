"""The scale benchmark: it runs on tiny sizes, and with `keep` it builds its databases once and reuses them."""

from bench import scale


def test_kept_databases_are_built_once_and_measured_on_copies(tmp_path):
    first = scale.measure(30, 90, 3, keep=tmp_path)
    kept = tmp_path / "kept-90.sqlite3"
    built = kept.stat().st_mtime_ns
    second = scale.measure(30, 90, 3, keep=tmp_path)
    # The same sample went into fresh copies both times (a duplicate would have stopped the run).
    assert kept.stat().st_mtime_ns == built
    assert first["large"]["messages"] == second["large"]["messages"] == 90
    assert second["large"]["tickets"] == first["large"]["tickets"]
    assert not (tmp_path / "large.sqlite3").exists()
    for figures in (first, second):
        assert figures["ratio"] > 0 and figures["cpu_ratio"] > 0
        assert figures["large"]["write_calls_per_message"] > 0
