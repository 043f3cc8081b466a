"""Per-message ingest cost with a small and a large number of stored messages, on the same new mail."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import bulk_load, mailgen, serve_proc
from mailbridge import pipeline
from mailbridge.config import load_config
from mailbridge.store.db import open_database
from mailbridge.store.types import utcnow

# Messages timed at a stretch, alternating databases, so a burst of other load on a shared
# machine spoils one slice of one database rather than one whole side of the comparison.
SLICE = 10


def measure(small: int, large: int, sample: int, seed: int = 3) -> dict:
    """Build both databases, then ingest the same `sample` new messages into each, slice by slice."""
    with tempfile.TemporaryDirectory(prefix="mb-bench-scale-") as directory:
        root = Path(directory)
        config = load_config(serve_proc.write_config(root), env={})
        built = {}
        for label, size in (("small", small), ("large", large)):
            start = time.perf_counter()
            figures = bulk_load.create(root / f"{label}.sqlite3", size)
            built[label] = {**figures, "build_seconds": time.perf_counter() - start}
        corpus = mailgen.generate(sample, seed)
        seconds = _alternate(corpus, {label: root / f"{label}.sqlite3" for label in built}, config)
    result = {label: {**built[label], "ms_per_message": seconds[label] / sample * 1000} for label in built}
    result["ratio"] = seconds["large"] / seconds["small"]
    result["sample"] = sample
    return result


def _alternate(corpus: list[bytes], paths: dict[str, Path], config) -> dict[str, float]:
    databases = {label: open_database(f"sqlite:///{path}") for label, path in paths.items()}
    totals = dict.fromkeys(paths, 0.0)
    try:
        # One untimed message each first: imports, compiled patterns and the page cache warm up.
        for db in databases.values():
            _ingest(mailgen.generate(1, seed=999)[0], db, config)
        for start in range(0, len(corpus), SLICE):
            chunk = corpus[start:start + SLICE]
            for label, db in databases.items():
                began = time.perf_counter()
                for raw in chunk:
                    _ingest(raw, db, config)
                totals[label] += time.perf_counter() - began
    finally:
        for db in databases.values():
            db.dispose()
    return totals


def _ingest(raw: bytes, db, config) -> None:
    """Accept and process one message, as `mailbridge ingest` does."""
    outcome = pipeline.ingest(raw, db=db, config=config, now=utcnow(), source="bench", received_at=utcnow())
    if outcome.kind == "quarantined":
        raise RuntimeError(f"scale sample quarantined: {outcome.error}")
