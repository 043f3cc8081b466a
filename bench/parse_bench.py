"""Measure messages per second of `parse_message` beside the stdlib `email` baseline, on generated mail."""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench import mailgen
from mailbridge.parse import parse_message

# Messages timed at a stretch; see best_rates for why the corpus is timed in slices.
SLICE = 100


def parse_with_mailbridge(corpus: list[bytes]) -> Counter:
    """Parse every message with mailbridge; return the exceptions by type (there should be none)."""
    errors: Counter = Counter()
    for raw in corpus:
        try:
            parse_message(raw)
        except Exception as exc:  # noqa: BLE001 - a crash is a finding to report, not a reason to stop.
            errors[type(exc).__name__] += 1
    return errors


def parse_with_stdlib(corpus: list[bytes]) -> Counter:
    """The baseline: `email` with the modern policy, then the content of every text part."""
    errors: Counter = Counter()
    for raw in corpus:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        for part in message.walk():
            if part.get_content_maintype() != "text":
                continue
            # The stdlib raises on unknown charsets (LookupError) and some broken encodings; the
            # baseline counts those instead of stopping, as a real caller would have to.
            try:
                part.get_content()
            except Exception as exc:  # noqa: BLE001
                errors[type(exc).__name__] += 1
    return errors


def best_rates(corpus: list[bytes], rounds: int, clock: Callable[[], float] = time.perf_counter) -> dict[str, dict]:
    """Messages per second of each contender: for every slice of the corpus, its best of `rounds`.

    `clock` is wall time by default; time.thread_time (--cpu) leaves out the time other jobs
    on a shared machine take the core away, which wall time counts.
    """
    contenders: dict[str, Callable[[list[bytes]], Counter]] = {
        "mailbridge": parse_with_mailbridge,
        "stdlib": parse_with_stdlib,
    }
    slices = [corpus[i : i + SLICE] for i in range(0, len(corpus), SLICE)]
    best = {name: [float("inf")] * len(slices) for name in contenders}
    errors = {name: Counter() for name in contenders}
    # Short slices, alternating contenders, and the best time of each slice make the figures
    # robust on a shared machine: a burst of other load spoils one slice of one round, not a run.
    for round_number in range(rounds):
        for index, chunk in enumerate(slices):
            for name, run in contenders.items():
                start = clock()
                found = run(chunk)
                best[name][index] = min(best[name][index], clock() - start)
                if round_number == 0:
                    errors[name].update(found)
    return {name: {"seconds": sum(best[name]), "messages_per_second": len(corpus) / sum(best[name]),
                   "ms_per_message": 1000 * sum(best[name]) / len(corpus), "errors": dict(errors[name])}
            for name in contenders}


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "processor": _cpu_model(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo where there is one, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(messages: int, seed: int, rounds: int, cpu: bool = False) -> dict:
    """Generate the corpus, time both parsers on it, and return every figure of the run."""
    start = time.perf_counter()
    corpus = mailgen.generate(messages, seed)
    generated = time.perf_counter() - start
    rates = best_rates(corpus, rounds, time.thread_time if cpu else time.perf_counter)
    return {
        "messages": messages,
        "seed": seed,
        "rounds": rounds,
        "clock": "thread CPU time" if cpu else "wall time",
        "corpus_bytes": sum(len(raw) for raw in corpus),
        "generate_seconds": generated,
        "mailbridge": rates["mailbridge"],
        "stdlib": rates["stdlib"],
        "ratio": rates["mailbridge"]["messages_per_second"] / rates["stdlib"]["messages_per_second"],
        "machine": machine(),
    }


def report(figures: dict) -> str:
    ours, baseline, box = figures["mailbridge"], figures["stdlib"], figures["machine"]
    return "\n".join([
        f"corpus:     {figures['messages']} generated messages (seed {figures['seed']}), "
        f"{figures['corpus_bytes'] / 1e6:.1f} MB, best of {figures['rounds']} rounds per slice of {SLICE} "
        f"({figures['clock']})",
        f"machine:    {box['processor']}, {box['cpu_count']} cores, {box['python']}, {box['platform']}",
        f"mailbridge: {ours['messages_per_second']:8.0f} messages/s  {ours['ms_per_message']:.2f} ms/message  "
        f"(parse_message){_errors(ours)}",
        f"stdlib:     {baseline['messages_per_second']:8.0f} messages/s  {baseline['ms_per_message']:.2f} ms/message  "
        f"(message_from_bytes + get_content of text parts){_errors(baseline)}",
        f"ratio:      {figures['ratio']:.2f}  (mailbridge / stdlib; at least 1.00 is the goal)",
    ])


def _errors(rate: dict) -> str:
    if not rate["errors"]:
        return ""
    return "  errors: " + ", ".join(f"{name} x{count}" for name, count in sorted(rate["errors"].items()))


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.parse_bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="how many messages to generate")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (same seed, same corpus)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per parser; the best counts")
    parser.add_argument("--cpu", action="store_true", help="time with the thread's CPU time instead of wall time")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to PATH as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.messages < 1 or args.rounds < 1:
        print("--messages and --rounds must be at least 1", file=sys.stderr)
        return 2
    figures = run(args.messages, args.seed, args.rounds, args.cpu)
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
