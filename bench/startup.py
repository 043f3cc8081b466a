"""CLI start-up: wall time of `mailbridge --help`, `parse` and `tickets list` as fresh processes.

Each command runs as `sys.executable -m mailbridge ...`, the way a script or an MTA's pipe
runs it, beside `python -c pass` (the interpreter's own start, the floor nothing goes below).
Bytecode caching is on for them whatever the caller's environment says (`_environment`).
The commands take turns within each round, so a change in the machine's other load weighs on
all of them alike; the figures are medians and 90th percentiles over the rounds, in seconds,
with the median CPU time (user + system) of the process, which waiting for a busy core does
not inflate.

    .venv/bin/python -m bench.startup                 # 15 rounds
    .venv/bin/python -m bench.startup --repeats 41 --json bench/results/startup.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import mailgen, serve_proc

ROOT = Path(__file__).resolve().parents[1]
# The stored mail `tickets list` shows: a few tickets, as a small installation has.
STORED_MESSAGES = 20
MAIL = b"From: Ana <ana@example.com>\nSubject: printer\n\nThe printer is offline again.\n"


def commands(directory: Path) -> dict[str, list[str]]:
    """The command lines to time, by label, with their inputs prepared in `directory`."""
    config = _stored_config(directory)
    mail = directory / "mail.eml"
    mail.write_bytes(MAIL)
    python = [sys.executable]
    return {
        "python -c pass": [*python, "-c", "pass"],
        "mailbridge --help": [*python, "-m", "mailbridge", "--help"],
        "mailbridge parse FILE --json": [*python, "-m", "mailbridge", "parse", str(mail), "--json"],
        "mailbridge tickets list": [*python, "-m", "mailbridge", "tickets", "list", "--config", str(config)],
    }


def measure(repeats: int = 15) -> dict:
    """Median and 90th percentile wall time (s) and median CPU time (s) of each command."""
    with tempfile.TemporaryDirectory(prefix="mb-bench-startup-") as directory:
        lines = commands(Path(directory))
        for argv in lines.values():
            _run(argv)  # compiled bytecode and the page cache are warm before timing starts
        walls: dict[str, list[float]] = {label: [] for label in lines}
        cpus: dict[str, list[float]] = {label: [] for label in lines}
        labels = list(lines)
        for round_ in range(repeats):
            # A different command goes first each round: none always pays for a cold cache.
            for label in labels[round_ % len(labels):] + labels[:round_ % len(labels)]:
                wall, cpu = _run(lines[label])
                walls[label].append(wall)
                cpus[label].append(cpu)
    return {label: {"median": statistics.median(walls[label]), "p90": _p90(walls[label]),
                    "cpu_median": statistics.median(cpus[label]), "runs": repeats} for label in labels}


def _stored_config(directory: Path) -> Path:
    """A config whose SQLite database holds a few imported tickets."""
    config = serve_proc.write_config(directory)
    inbox = directory / "inbox"
    inbox.mkdir()
    for number, raw in enumerate(mailgen.generate(STORED_MESSAGES, seed=3)):
        (inbox / f"{number:03}.eml").write_bytes(raw)
    _run([sys.executable, "-m", "mailbridge", "ingest", "--import", str(inbox), "--config", str(config)])
    return config


def _run(argv: list[str]) -> tuple[float, float]:
    """Run `argv` to its end; (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_environment())
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _environment() -> dict[str, str]:
    """The caller's environment with bytecode caching on, as an installed package has it.

    With PYTHONDONTWRITEBYTECODE set (some shells and CI images set it) no run leaves its
    compiled modules behind, so every run would compile mailbridge's sources again (about
    20 ms of `tickets list`) and the warm-up run could not warm anything.
    """
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, "COLUMNS": "80"}


def _p90(values: list[float]) -> float:
    """The 90th percentile by nearest rank (the value itself when there is one)."""
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def table(figures: dict) -> str:
    """The figures as a small text table."""
    rows = [f"{'command':<30} {'median':>8} {'p90':>8} {'cpu':>8}"]
    for label, row in figures.items():
        rows.append(f"{label:<30} {row['median']:>7.3f}s {row['p90']:>7.3f}s {row['cpu_median']:>7.3f}s")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds of the four commands (default 15)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.repeats)
    print(f"{args.repeats} rounds, wall median and 90th percentile, CPU median (user + system)")
    print(table(figures))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
