"""Processing cost on its own: `pipeline.process` per message on generated mail already accepted, one thread.

This is the worker's share of `serve`'s work, without the listener, the sockets or the other
writers: intake stores the corpus first (not timed), then every raw row is processed in order and
the wall time per message is printed. `--profile` runs the same under pyinstrument (if installed)
and prints where the time goes; its figures are inflated by the profiler, so compare only runs
of the same kind. Run: `.venv/bin/python -m bench.process_bench [--messages 400] [--profile]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import mailgen, serve_proc
from mailbridge import pipeline
from mailbridge.intake import durable
from mailbridge.config import load_config
from mailbridge.store.db import open_database
from mailbridge.store.types import utcnow


def measure(messages: int, seed: int = 1, profile: bool = False) -> dict:
    """Accept `messages` generated mails, then time processing them all; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="mb-bench-process-") as directory:
        root = Path(directory)
        config = load_config(serve_proc.write_config(root), env={})
        db = open_database(f"sqlite:///{serve_proc.database_path(root)}")
        try:
            rows = [durable.accept_raw(raw, db=db, source="bench", received_at=utcnow())[0]
                    for raw in mailgen.generate(messages, seed)]
            profiler = _profiler() if profile else None
            started = time.perf_counter()
            kinds: dict[str, int] = {}
            for row in rows:
                outcome = pipeline.process(row, db=db, config=config, now=utcnow())
                kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
            seconds = time.perf_counter() - started
            if profiler is not None:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False))
        finally:
            db.dispose()
    return {"messages": messages, "ms_per_message": seconds / messages * 1000, "outcomes": kinds}


def _profiler():
    try:
        import pyinstrument
    except ImportError:
        raise SystemExit("--profile needs pyinstrument: .venv/bin/pip install pyinstrument") from None
    profiler = pyinstrument.Profiler(interval=0.0005)
    profiler.start()
    return profiler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.process_bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=400, help="generated messages (default 400)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile")
    args = parser.parse_args(argv)
    figures = measure(args.messages, args.seed, args.profile)
    print(f"pipeline.process: {figures['ms_per_message']:.2f} ms/msg over {figures['messages']} messages "
          f"({', '.join(f'{k} {v}' for k, v in sorted(figures['outcomes'].items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
