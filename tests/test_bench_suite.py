"""`python -m bench --quick` runs every measurement end to end and prints every row (no timing is asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("1. SMTP end to end", "end-of-DATA → 250, flat out", "2. naive limit, synchronous=NORMAL",
        "naive limit, synchronous=FULL", "/ naive limit, synchronous=NORMAL", "workers = 2 (one stores",
        "at 200 msg/s offered", "3. IMAP end to end", "4. ingest cost", "5. RSS, largest process", "long run",
        "6. start-up: python -c pass", "mailbridge --help", "mailbridge parse FILE --json", "mailbridge tickets list",
        "7. backlog drained, workers = 1", "workers = 2", "workers = 4")


def test_quick_run_prints_every_row_and_writes_json(tmp_path):
    out = tmp_path / "latest.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ROWS:
        assert row in done.stdout, f"row {row!r} missing from:\n{done.stdout}"
    figures = json.loads(out.read_text())
    assert figures["quick"] is True
    # Every message sent was answered 250 and ended as a stored message with nothing quarantined.
    assert figures["smtp"]["refused"] == {} and figures["smtp"]["quarantined"] == 0
    assert figures["smtp"]["stored_messages"] == figures["corpus"]["messages"]
    assert figures["smtp"]["acks_queued"] == figures["smtp"]["tickets"] > 0
    for key in ("naive", "naive_normal"):
        assert all(run["refused"] == {} for run in figures[key]["runs"]), key
        assert figures["smtp"][f"ratio_to_{key}"] > 0
    assert figures["scale"]["large"]["messages"] > figures["scale"]["small"]["messages"]
    # Skipped only where Dovecot is missing (a broken import of its test support once hid here).
    if Path("/usr/sbin/dovecot").exists():
        assert "skipped" not in figures["imap"], figures["imap"]
    assert "skipped" in figures["imap"] or figures["imap"]["stored_messages"] == figures["plan"]["imap_messages"]


def test_the_escalation_benchmark_runs_every_step_and_sms():
    from bench import escalation_bench

    figures = escalation_bench.measure(3)
    assert (figures["steps"], figures["sms"]) == (3, 3)


def test_interleaved_rounds_run_each_checkout_against_the_rounds_naive_run():
    from bench import interleave

    lines: list[str] = []
    ratios = interleave.measure([ROOT], rounds=2, messages=6, clients=2, report=lines.append)
    assert list(ratios) == [str(ROOT)] and len(ratios[str(ROOT)]) == 2 and min(ratios[str(ROOT)]) > 0
    assert [line.split(":")[0] for line in lines] == ["round 1", "round 2"]
    [line] = interleave.summary(ratios)
    assert line.startswith(f"{ROOT}: median ") and "above" in line and "in 0 of 2 rounds" in line


def test_interleave_refuses_a_folder_without_mailbridge_and_a_checkout_given_twice(tmp_path):
    for arguments, error in (([str(tmp_path)], "no mailbridge tree there"), ([".", "."], "given twice"),
                             (["--rounds", "0", "."], "at least 1")):
        done = subprocess.run([sys.executable, "-m", "bench.interleave", *arguments], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and error in done.stderr, (arguments, done.stderr)


def test_measurement_one_shows_the_round_of_the_median_ratio_against_the_naive_runs_either_side():
    from bench import rounds

    def naive(normal: float, full: float) -> dict:
        return {"NORMAL": {"messages_per_second": normal}, "FULL": {"messages_per_second": full}}

    runs = [{"messages_per_second": rate, "p99_ms": rate / 10} for rate in (200.0, 330.0, 210.0)]
    # The machine slows down after the first round: each round is held against its own neighbours.
    naive_runs = [naive(200.0, 190.0), naive(200.0, 170.0), naive(300.0, 250.0), naive(300.0, 250.0)]
    figures = rounds.combined(runs, naive_runs)
    assert [round(r["ratio_to_naive_normal"], 3) for r in figures["rounds"]] == [1.0, 1.32, 0.7]
    assert [round(r["ratio_to_naive"], 3) for r in figures["rounds"]] == [1.111, 1.571, 0.84]
    assert figures["ratio_to_naive_normal"] == 1.0 and round(figures["ratio_to_naive"], 3) == 1.111
    # The round shown is the one whose ratio is the median: its rate, latency and the rest.
    assert figures["round_shown"] == 1 and figures["messages_per_second"] == 200.0 and figures["p99_ms"] == 20.0
    # With an even count the higher middle round is shown, and its ratio is the one given.
    two = rounds.combined(runs[:2], naive_runs[:3])
    assert two["round_shown"] == 2 and round(two["ratio_to_naive_normal"], 3) == 1.32
