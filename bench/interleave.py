"""`python -m bench.interleave`: `serve` of several checkouts in turn, each round against its own naive run.

This machine's speed moves by more within minutes than a pass changes (the naive server gave
355 and 419 msg/s in one session), so two full runs taken apart compare the machine more than the
code. Here every round runs the naive server (`synchronous=NORMAL`) once, then row 1 of the bench
(`ingest_e2e.MailbridgeRun.throughput`) for each checkout, in an order that rotates from round to
round; each ratio is to that round's naive run. A checkout is a directory holding a mailbridge
tree (a `git worktree add /tmp/base <commit>` does): its `serve` is started there, so it runs
that tree's code with this virtualenv's libraries.

    .venv/bin/python -m bench.interleave /tmp/base .          # 6 rounds of 2000 messages
    .venv/bin/python -m bench.interleave --rounds 10 --workers 2 /tmp/base .
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

from bench import ingest_e2e, mailgen, smtp_load


def measure(checkouts: Sequence[Path], rounds: int, messages: int, clients: int,
            workers: int | None = None, seed: int = 1, report=print) -> dict[str, list[float]]:
    """Ratios to the round's naive run, per checkout, in round order; `report` gets a line per run."""
    corpus = smtp_load.envelopes(list(mailgen.iter_mails(messages, seed)))
    ratios: dict[str, list[float]] = {str(checkout): [] for checkout in checkouts}
    for number in range(rounds):
        naive = ingest_e2e.measure_naive(corpus, clients, "NORMAL")["messages_per_second"]
        shift = number % len(checkouts)
        for checkout in [*checkouts[shift:], *checkouts[:shift]]:
            figures = ingest_e2e.measure_serve(corpus, clients, workers, root=checkout)
            ratio = figures["messages_per_second"] / naive
            ratios[str(checkout)].append(ratio)
            report(f"round {number + 1}: {checkout}: {figures['messages_per_second']:.1f} msg/s, naive "
                   f"{naive:.1f}, ratio {ratio:.3f}, storing CPU {figures['worker_cpu_ms_per_message']:.2f} ms/msg")
    return ratios


def summary(ratios: dict[str, list[float]]) -> list[str]:
    """A line per checkout: median, mean, range, and in how many rounds it beat the first checkout."""
    first_name, first = next(iter(ratios.items()))
    lines = []
    for name, values in ratios.items():
        better = sum(value > base for value, base in zip(values, first))
        lines.append(f"{name}: median {statistics.median(values):.3f}, mean {statistics.mean(values):.3f}, "
                     f"{min(values):.3f}–{max(values):.3f}; above {first_name} in {better} of {len(values)}"
                     f" rounds ({' '.join(f'{value:.2f}' for value in values)})")
    return lines


def _checkout(text: str) -> Path:
    path = Path(text).resolve()
    if not (path / "mailbridge" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{text}: no mailbridge tree there (make one with "
                                         f"`git worktree add {text} <commit>`)")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.interleave", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="+", type=_checkout, metavar="CHECKOUT",
                        help="a directory with a mailbridge tree; the first is the one the others are compared to")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of naive + every checkout (default 6)")
    parser.add_argument("--messages", type=int, default=2000, help="messages sent per run (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent SMTP connections (default 8)")
    parser.add_argument("--workers", type=int, default=None, help="[processing] workers (default: serve's own)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.messages < 1 or args.clients < 1:
        parser.error("--rounds, --messages and --clients must be at least 1")
    if len(set(args.checkouts)) < len(args.checkouts):
        parser.error("a checkout is given twice: its runs would be counted as one")
    ratios = measure(args.checkouts, args.rounds, args.messages, args.clients, args.workers)
    print("\n".join(summary(ratios)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
