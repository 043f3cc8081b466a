"""Per-message ingest cost with a small and a large number of stored messages, on the same new mail.

`python -m bench.scale --keep DIR --repeats 3` measures again and again on databases built once:
the built files stay in DIR (a 1M one takes minutes to build) and every repeat ingests into
fresh copies of them, so that each repeat sees the same stored rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import bulk_load, mailgen, serve_proc
from mailbridge import pipeline
from mailbridge.config import load_config
from mailbridge.store.db import connect, open_database, upgrade
from mailbridge.store.types import utcnow

# Messages timed at a stretch, alternating databases, so a burst of other load on a shared
# machine spoils one slice of one database rather than one whole side of the comparison.
SLICE = 10
# The process's I/O counters (Linux): read and write system calls are what a page missing from
# SQLite's cache and a page written to the WAL or checkpointed cost, counted exactly whatever
# the machine's load.
_PROC_IO = Path("/proc/self/io")
_LABELS = ("small", "large")


def measure(small: int, large: int, sample: int, seed: int = 3, keep: Path | None = None) -> dict:
    """Build both databases, then ingest the same `sample` new messages into each, slice by slice.

    `keep`: a directory where the built databases are kept and reused by later calls (each call
    ingests into copies of them); by default they are built in a temporary directory and removed.
    """
    with _workspace(keep) as root:
        config = load_config(serve_proc.write_config(root), env={})
        built = {label: _built(root, label, size, reuse=keep is not None)
                 for label, size in zip(_LABELS, (small, large))}
        paths = {label: figures.pop("path") for label, figures in built.items()}
        try:
            counts = _alternate(mailgen.generate(sample, seed), paths, config)
        finally:
            if keep is not None:
                for path in paths.values():
                    _remove_database(path)
    result = {label: {**built[label], **_per_message(counts[label], sample)} for label in _LABELS}
    result["ratio"] = counts["large"]["seconds"] / counts["small"]["seconds"]
    # Without the waits for the disk (fsync), which a shared machine makes the noisiest part.
    result["cpu_ratio"] = counts["large"]["cpu_seconds"] / counts["small"]["cpu_seconds"]
    result["sample"] = sample
    return result


def _per_message(counts: dict[str, float], sample: int) -> dict[str, float]:
    return {"ms_per_message": counts["seconds"] / sample * 1000,
            "cpu_ms_per_message": counts["cpu_seconds"] / sample * 1000,
            "read_calls_per_message": counts["read_calls"] / sample,
            "write_calls_per_message": counts["write_calls"] / sample}


@contextmanager
def _workspace(keep: Path | None) -> Iterator[Path]:
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="mb-bench-scale-") as directory:
            yield Path(directory)
        return
    keep.mkdir(parents=True, exist_ok=True)
    yield keep


def _built(root: Path, label: str, size: int, *, reuse: bool) -> dict:
    """Build the database of `size` messages; with `reuse`, once, then hand out a fresh copy of it."""
    path = root / f"{label}.sqlite3"
    if not reuse:
        return {**_build(path, size), "path": path}
    kept = root / f"kept-{size}.sqlite3"
    figures_file = kept.with_suffix(".json")
    if not figures_file.exists():
        figures_file.write_text(json.dumps(_build(kept, size)))
    _upgrade_kept(kept)
    shutil.copyfile(kept, path)
    bulk_load.flush_to_disk(path)
    return {**json.loads(figures_file.read_text()), "path": path}


def _build(path: Path, size: int) -> dict:
    start = time.perf_counter()
    figures = bulk_load.create(path, size)
    return {**figures, "build_seconds": time.perf_counter() - start}


def _upgrade_kept(path: Path) -> None:
    """A kept database built by an older schema is brought up to date, as `mailbridge db upgrade` would."""
    db = connect(f"sqlite:///{path}")
    try:
        upgrade(db)
    finally:
        db.dispose()


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-turn"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _alternate(corpus: list[bytes], paths: dict[str, Path], config) -> dict[str, dict[str, float]]:
    """Seconds, CPU seconds and read/write system calls spent ingesting `corpus` into each database."""
    databases = {label: open_database(f"sqlite:///{path}") for label, path in paths.items()}
    counts = {label: dict.fromkeys(("seconds", "cpu_seconds", "read_calls", "write_calls"), 0.0) for label in paths}
    try:
        # One untimed message each first: imports, compiled patterns and the page cache warm up.
        for db in databases.values():
            _ingest(mailgen.generate(1, seed=999)[0], db, config)
        for start in range(0, len(corpus), SLICE):
            for label, db in databases.items():
                before = _counters()
                for raw in corpus[start:start + SLICE]:
                    _ingest(raw, db, config)
                for name, value in _counters().items():
                    counts[label][name] += value - before[name]
    finally:
        for db in databases.values():
            db.dispose()
    return counts


def _counters() -> dict[str, float]:
    """Wall and CPU time, and the read and write system calls of this process (0 where /proc does not tell)."""
    try:
        io = dict(line.split(": ") for line in _PROC_IO.read_text().splitlines())
    except OSError:
        io = {}
    return {"seconds": time.perf_counter(), "cpu_seconds": time.process_time(),
            "read_calls": int(io.get("syscr", 0)), "write_calls": int(io.get("syscw", 0))}


def _ingest(raw: bytes, db, config) -> None:
    """Accept and process one message, as `mailbridge ingest` does."""
    outcome = pipeline.ingest(raw, db=db, config=config, now=utcnow(), source="bench", received_at=utcnow())
    if outcome.kind == "quarantined":
        raise RuntimeError(f"scale sample quarantined: {outcome.error}")
    if outcome.kind == "duplicate":
        # A database measured before: the sample would time the shortcut for mail seen already.
        raise RuntimeError(f"scale sample already stored: {outcome.message_id}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="stored messages of the small database")
    parser.add_argument("--large", type=int, default=1_000_000, help="stored messages of the large database")
    parser.add_argument("--sample", type=int, default=200, help="new messages ingested into each, per repeat")
    parser.add_argument("--repeats", type=int, default=1, help="measurements, each on fresh copies")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build the databases here once and reuse them")
    args = parser.parse_args(argv)
    runs = []
    for repeat in range(1, args.repeats + 1):
        result = measure(args.small, args.large, args.sample, keep=args.keep)
        runs.append(result)
        shown = {label: {name: round(value, 2) for name, value in result[label].items() if name.endswith("_message")}
                 for label in _LABELS}
        print(json.dumps({"repeat": repeat, "ratio": round(result["ratio"], 4),
                          "cpu_ratio": round(result["cpu_ratio"], 4), **shown}), flush=True)
    print(f"median of {len(runs)}: ratio {statistics.median(r['ratio'] for r in runs):.4f}, "
          f"cpu ratio {statistics.median(r['cpu_ratio'] for r in runs):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
