"""Measurement 1 in rounds: `serve`'s throughput between naive runs, the ratios as the medians of the rounds.

The issue measures the ratio as the median of interleaved runs: this machine's speed moves by
more within minutes than one pass changes (the naive server gave 189 and 209 msg/s before and
after one `serve` run, and `serve`'s storing worker 3.4 to 4.9 ms of CPU per message within the
hour). The naive servers run first and after every round; a round runs `serve` with the default
workers and with two, and each of its ratios is to the mean of the naive runs either side of it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from bench import ingest_e2e, smtp_load

# The naive limits, by SQLite's synchronous pragma: FULL is as durable as mailbridge's intake,
# NORMAL is what a naive server usually runs with (issue 17 measures against it).
NAIVE_VARIANTS = {"FULL": "naive", "NORMAL": "naive_normal"}
# `serve`'s configurations in each round: the default workers (cores - 1), and two workers (one
# stores, one parses ahead), where one is the default of a 2-core machine.
SERVE_VARIANTS = {"smtp": None, "smtp_workers_2": 2}
# The round whose figures (rate, CPU, latency) are shown is the one of the median ratio to this.
RANKED_BY = "ratio_to_naive_normal"


def measure(corpus: Sequence[smtp_load.Envelope], clients: int, rounds: int,
            report: Callable[[str], None] = lambda line: None) -> dict:
    """`smtp`, `smtp_workers_2`, `naive` and `naive_normal` of the bench's results."""
    naive = [_naive_runs(corpus, clients)]
    runs: dict[str, list[dict]] = {key: [] for key in SERVE_VARIANTS}
    for number in range(rounds):
        for key, workers in SERVE_VARIANTS.items():
            runs[key].append(ingest_e2e.measure_serve(corpus, clients, workers))
        naive.append(_naive_runs(corpus, clients))
        report(f"round {number + 1} of {rounds} done")
    return {**{key: combined(key_runs, naive) for key, key_runs in runs.items()}, **_naive_figures(naive)}


def _naive_runs(corpus: Sequence[smtp_load.Envelope], clients: int) -> dict[str, dict]:
    """One run of each naive variant, keyed by its `synchronous` pragma."""
    return {synchronous: ingest_e2e.measure_naive(corpus, clients, synchronous) for synchronous in NAIVE_VARIANTS}


def combined(runs: list[dict], naive: list[dict[str, dict]]) -> dict:
    """The figures of the round of the median ratio, its ratios the medians, and every round's rate and ratios.

    `runs[i]` ran between `naive[i]` and `naive[i + 1]`.
    """
    rounds = []
    for number, run in enumerate(runs):
        ratios = {}
        for synchronous, key in NAIVE_VARIANTS.items():
            either_side = [naive[number][synchronous], naive[number + 1][synchronous]]
            ratios[f"ratio_to_{key}"] = run["messages_per_second"] / _mean_rate(either_side)
        rounds.append({"messages_per_second": run["messages_per_second"], **ratios})
    shown = sorted(range(len(runs)), key=lambda number: rounds[number][RANKED_BY])[len(runs) // 2]
    # The higher of the two middle ones for an even count: then the round shown has the ratio shown.
    medians = {f"ratio_to_{key}": statistics.median_high(round_[f"ratio_to_{key}"] for round_ in rounds)
               for key in NAIVE_VARIANTS.values()}
    return {**runs[shown], **medians, "round_shown": shown + 1, "rounds": rounds}


def _naive_figures(naive: list[dict[str, dict]]) -> dict:
    figures = {}
    for synchronous, key in NAIVE_VARIANTS.items():
        runs = [pair[synchronous] for pair in naive]
        figures[key] = {"synchronous": synchronous, "runs": runs, "messages_per_second": _mean_rate(runs)}
    return figures


def _mean_rate(runs: Sequence[dict]) -> float:
    return sum(run["messages_per_second"] for run in runs) / len(runs)
