"""`python -m bench`: the whole benchmark suite in one run; prints a table, checks the aims, writes JSON."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import imap_e2e, ingest_e2e, mailgen, rounds, scale, smtp_load, startup, workers_curve
from bench.parse_bench import machine
from bench.report import table

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


@dataclass(frozen=True)
class Plan:
    """How much of everything one run sends; `--quick` only checks that every part runs."""

    messages: int
    clients: int
    paced_messages: int
    rate: float
    long_seconds: float
    long_messages: int
    scale_small: int
    scale_large: int
    scale_sample: int
    imap_messages: int
    startup_repeats: int
    curve_messages: int
    curve_repeats: int
    seed: int
    rounds: int


FULL = Plan(messages=2000, clients=8, paced_messages=1000, rate=200.0, long_seconds=120.0, long_messages=500,
            scale_small=1000, scale_large=1_000_000, scale_sample=200, imap_messages=1000, startup_repeats=15,
            curve_messages=1000, curve_repeats=2, seed=1, rounds=3)
QUICK = Plan(messages=40, clients=4, paced_messages=40, rate=200.0, long_seconds=0.0, long_messages=20,
             scale_small=1000, scale_large=3000, scale_sample=10, imap_messages=30, startup_repeats=1,
             curve_messages=30, curve_repeats=1, seed=1, rounds=2)


def run(plan: Plan, *, imap: bool = True, scale_part: bool = True) -> dict:
    """Every measurement; the SMTP ratio's two sides come from this same run, back to back."""
    started = time.perf_counter()
    mails = list(mailgen.iter_mails(plan.messages + plan.paced_messages, plan.seed))
    corpus = smtp_load.envelopes(mails[:plan.messages])
    paced = smtp_load.envelopes(mails[plan.messages:])
    results: dict = {"plan": plan.__dict__, "machine": machine(),
                     "corpus": {"messages": plan.messages, "bytes": sum(len(m.raw) for m in mails[:plan.messages])}}
    results.update(rounds.measure(corpus, plan.clients, plan.rounds, report=_progress))
    # The latency and memory runs on a `serve` of their own, after the rounds: the naive runs
    # either side of a round are then minutes apart at most. It takes the corpus flat out first,
    # unmeasured, as it did when these runs followed row 1 on its `serve`: a `serve` just started
    # gave a p99 of 12-20 ms at 200 msg/s where one that had worked gave 9-13 (3 runs each).
    with tempfile.TemporaryDirectory(prefix="mb-bench-serve-") as directory:
        with ingest_e2e.MailbridgeRun(Path(directory)) as serve:
            serve.throughput(corpus, plan.clients)
            results["paced"] = serve.paced(paced, plan.clients, plan.rate)
            results["long_run"] = serve.long_run(corpus[:plan.long_messages], plan.clients, plan.long_seconds)
    results["imap"] = _imap(mails[:plan.imap_messages], results["smtp"]) if imap else {"skipped": "--no-imap"}
    results["scale"] = (scale.measure(plan.scale_small, plan.scale_large, plan.scale_sample)
                        if scale_part else {"skipped": "--no-scale"})
    results["startup"] = startup.measure(plan.startup_repeats)
    results["workers_curve"] = workers_curve.curve(plan.curve_messages, plan.curve_repeats, seed=plan.seed)
    results["seconds"] = time.perf_counter() - started
    return results


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _imap(mails: list[mailgen.GeneratedMail], smtp: dict) -> dict:
    reason = imap_e2e.unavailable()
    if reason:
        return {"skipped": reason}
    figures = imap_e2e.measure([m.raw for m in mails])
    figures["ratio_to_smtp"] = figures["messages_per_second"] / smtp["messages_per_second"]
    return figures


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that every part runs (CI)")
    parser.add_argument("--messages", type=int, help=f"corpus size for SMTP ingest (default {FULL.messages})")
    parser.add_argument("--clients", type=int, help=f"concurrent SMTP connections (default {FULL.clients})")
    parser.add_argument("--long-seconds", type=float, help=f"length of the memory run (default {FULL.long_seconds:.0f})")
    parser.add_argument("--scale-large", type=int, help=f"stored messages of the large database (default {FULL.scale_large})")
    parser.add_argument("--rounds", type=int, help="rounds of measurement 1, each followed by the naive "
                        f"servers; its ratios are the medians (default {FULL.rounds})")
    parser.add_argument("--no-imap", action="store_true", help="leave out the IMAP measurement")
    parser.add_argument("--no-scale", action="store_true", help="leave out the scale measurement")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write every figure (default bench/results/latest.json)")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    plan = QUICK if args.quick else FULL
    overrides = {"messages": args.messages, "clients": args.clients, "long_seconds": args.long_seconds,
                 "scale_large": args.scale_large, "rounds": args.rounds}
    plan = Plan(**{**plan.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    results = run(plan, imap=not args.no_imap, scale_part=not args.no_scale)
    results["quick"] = args.quick
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
