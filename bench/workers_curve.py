"""Processed msg/s of the real `mailbridge serve` at `[processing] workers` 1, 2 and 4, on the same backlog.

The generated corpus is stored once as a pending backlog in a SQLite database (not timed); each
run copies that database, starts `serve` on it with the given worker count and watches the raw
rows finish (stored with their ticket and acknowledgement, or quarantined). The rate is taken
between 10 % and 90 % of the backlog, so process start-up (imports, the parser processes) does
not count; the whole drain is printed too. Runs of the worker counts are interleaved and the
median of the repeats is reported, since a shared machine's load moves between runs. On a
machine with C cores, counts above C only show the curve flattening. Over the same stretch the
CPU time of `serve`'s processes is read from /proc and given per message: the worker
processes' (on SQLite the one that stores, the bottleneck), the parser processes' and the
sender's (the acknowledgements sent), a figure that moves much less with the machine's load
than the rate.

Run: `.venv/bin/python -m bench.workers_curve [--messages 1000] [--repeats 3] [--workers 1,2,4]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import mailgen, serve_proc
from bench.serve_proc import children, process_tree
from mailbridge.intake import durable
from mailbridge.store.db import open_database
from mailbridge.store.types import utcnow

WORKERS = (1, 2, 4)
# The share of the backlog between which the steady rate is measured.
FROM, TO = 0.1, 0.9


def backlog(directory: Path, messages: int, seed: int) -> Path:
    """A migrated SQLite database holding `messages` generated mails, all pending."""
    serve_proc.write_config(directory)
    db = open_database(f"sqlite:///{serve_proc.database_path(directory)}")
    try:
        for raw in mailgen.generate(messages, seed):
            durable.accept_raw(raw, db=db, source="bench", received_at=utcnow())
    finally:
        db.dispose()  # the last connection checkpoints the WAL into the file copied below
    return serve_proc.database_path(directory)


def run(template: Path, workers: int, messages: int, directory: Path, timeout: float = 900.0) -> dict:
    """Drain a copy of the backlog with `serve` at `workers`; the rates and the outcome counts."""
    serve_proc.write_config(directory, workers=workers)
    shutil.copyfile(template, serve_proc.database_path(directory))
    watch = serve_proc.DatabaseWatch(serve_proc.database_path(directory))
    server = serve_proc.ServeProcess(directory)
    started = time.perf_counter()
    server.start()
    marks: dict[float, float] = {}
    cpu: dict[float, dict[str, float]] = {}
    try:
        deadline = time.monotonic() + timeout
        while len(marks) < 3 and time.monotonic() < deadline and server.alive():
            _, finished = watch.progress()
            for share in (FROM, TO, 1.0):
                if share not in marks and finished >= share * messages:
                    marks[share], cpu[share] = time.perf_counter(), cpu_by_role(server.pid)
            time.sleep(0.02)
    finally:
        server.stop()
    if len(marks) < 3:
        raise RuntimeError(f"workers={workers}: the backlog was not drained:\n{server.log_tail()}")
    steady = (TO - FROM) * messages
    per_message = {f"{role}_cpu_ms": (cpu[TO].get(role, 0.0) - cpu[FROM].get(role, 0.0)) / steady * 1000
                   for role in ("serve", "workers", "parsers", "sender")}
    return {"workers": workers, "steady_msg_s": steady / (marks[TO] - marks[FROM]),
            "drain_seconds": marks[1.0] - started, **per_message, **watch.counts()}


def cpu_by_role(serve_pid: int) -> dict[str, float]:
    """CPU seconds so far of `serve`, of its worker processes, of everything below them (parsers) and of the sender."""
    totals = {"serve": serve_proc.own_cpu_seconds(serve_pid), "workers": 0.0, "parsers": 0.0, "sender": 0.0}
    for child in children(serve_pid):
        totals["sender" if serve_proc.is_sender(child) else "workers"] += serve_proc.own_cpu_seconds(child)
        totals["parsers"] += sum(serve_proc.own_cpu_seconds(pid) for pid in process_tree(child)[1:])
    return totals


def curve(messages: int = 1000, repeats: int = 3, workers: Sequence[int] = WORKERS, seed: int = 1) -> dict:
    """Interleaved runs of every worker count; per count the median steady rate and each run's figures."""
    with tempfile.TemporaryDirectory(prefix="mb-bench-workers-") as folder:
        root = Path(folder)
        (root / "template").mkdir()
        template = backlog(root / "template", messages, seed)
        runs: dict[int, list[dict]] = {n: [] for n in workers}
        for repeat in range(repeats):
            for n in workers:
                directory = root / f"run-{n}-{repeat}"
                directory.mkdir()
                runs[n].append(run(template, n, messages, directory))
                shutil.rmtree(directory)
    return {n: {"median_msg_s": statistics.median(r["steady_msg_s"] for r in found), "runs": found}
            for n, found in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers_curve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="generated messages (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count (default 3)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    result = curve(args.messages, args.repeats, counts, args.seed)
    base = result[counts[0]]["median_msg_s"]
    for n, figures in result.items():
        rates = ", ".join(f"{r['steady_msg_s']:.1f}" for r in figures["runs"])
        drains = ", ".join(f"{r['drain_seconds']:.1f}" for r in figures["runs"])
        last = figures["runs"][-1]
        cpu = {role: statistics.median(r[f"{role}_cpu_ms"] for r in figures["runs"])
               for role in ("serve", "workers", "parsers", "sender")}
        print(f"workers={n}: median {figures['median_msg_s']:.1f} msg/s ({figures['median_msg_s'] / base:.2f}x) "
              f"[runs {rates}; whole drain {drains} s; {last['tickets']} tickets, "
              f"{last['stored_messages']} messages, {last['acks_queued']} acks, {last['quarantined']} quarantined]; "
              f"CPU ms/msg (median): workers {cpu['workers']:.2f}, parsers {cpu['parsers']:.2f}, "
              f"sender {cpu['sender']:.2f}, serve {cpu['serve']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
