"""Processing cost on its own: `pipeline.process` per message on generated mail already accepted, one thread.

This is the worker's share of `serve`'s work, without the listener, the sockets or the other
writers: intake stores the corpus first (not timed), then every raw row is processed in order and
the wall time per message is printed. `--profile` runs the same under pyinstrument (if installed)
and prints where the time goes; its figures are inflated by the profiler, so compare only runs
of the same kind. Run: `.venv/bin/python -m bench.process_bench [--messages 400] [--profile]`.

`--worker` measures the storing worker of `serve` on SQLite instead: the corpus is put in a
spool (not timed), then `service.worker.Worker.drain` loads it, parses and stores it in groups of
`service.worker.GROUP` messages per transaction, exactly as `serve` does;
the parse alone is timed apart on the same bytes, so that the post-parse share can be told. `--statements` counts
the SQL statements per message (SQLAlchemy's `before_cursor_execute`). For instruction counts
under callgrind, `--phase setup` stops before the timed part and `--phase parse` only parses:
subtract the setup run from the others. `--clock` and `--dump` make two versions' stored rows
comparable: every `now` is that fixed time and every table is written to a JSON file.

`--sender` measures `serve`'s sender on the embedded default, the Maildir: as in `serve`, the
corpus goes through the storing worker in groups of `service.worker.GROUP` (not timed), and after
each group `outbox_worker.OutboxWorker.drain` sends the mail that group queued (timed). It prints
CPU and wall ms per outgoing mail, and with `--statements` the SQL statements per mail; with
`--phase setup` it stores without sending, to subtract from a full run under callgrind or strace.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import event, inspect, text

from bench import mailgen, serve_proc
from mailbridge import pipeline
from mailbridge.intake import durable
from mailbridge.intake.spool import Spool
from mailbridge.config import load_config
from mailbridge.outgoing.outbox_worker import OutboxWorker
from mailbridge.parse.stage import parse_stage
from mailbridge.service import worker as worker_module
from mailbridge.service.parsers import ParserPool
from mailbridge.store.db import open_database
from mailbridge.store.types import utcnow

PHASES = ("all", "setup", "parse")


def measure(messages: int, seed: int = 1, profile: bool = False, *, worker: bool = False,
            statements: bool = False, phase: str = "all", clock: datetime | None = None,
            dump: Path | None = None, sender: bool = False, parsers: int = 0) -> dict:
    """Accept `messages` generated mails, then time processing them all; returns the figures."""
    now = (lambda: clock) if clock is not None else utcnow
    with tempfile.TemporaryDirectory(prefix="mb-bench-process-") as directory:
        root = Path(directory)
        config = load_config(serve_proc.write_config(root), env={})
        db = open_database(f"sqlite:///{serve_proc.database_path(root)}")
        try:
            corpus = mailgen.generate(messages, seed)
            figures = {"messages": messages, "outcomes": {}}
            if sender:
                return _sender_figures(figures, db, config, root, corpus, now, statements, phase == "setup")
            if worker:
                spool = Spool(root / "spool").create()
                for raw in corpus:
                    spool.put(raw, source="smtp:bench", received_at=now(), envelope_rcpts=())
                run = _worker_run(db, config, spool, now, figures["outcomes"], parsers)
            else:
                rows = [durable.accept_raw(raw, db=db, source="bench", received_at=now())[0] for raw in corpus]
                run = _process_run(db, config, rows, now, figures["outcomes"])
            if phase == "setup":
                return figures
            if phase == "parse" or (worker and not parsers):
                figures["parse_cpu_ms_per_message"] = _parse_cpu(corpus) / messages * 1000
                if phase == "parse":
                    return figures
            counter = _count_statements(db) if statements else None
            profiler = _profiler() if profile else None
            started, cpu = time.perf_counter(), time.process_time()
            run()
            figures["ms_per_message"] = (time.perf_counter() - started) / messages * 1000
            figures["cpu_ms_per_message"] = (time.process_time() - cpu) / messages * 1000
            if profiler is not None:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False))
            if counter is not None:
                figures["statements_per_message"] = counter["count"] / messages
            if dump is not None:
                dump.write_text(json.dumps(_tables(db), indent=1, sort_keys=True, default=str))
        finally:
            db.dispose()
    return figures


def _process_run(db, config, rows, now, kinds: dict[str, int]):
    def run() -> None:
        for row in rows:
            outcome = pipeline.process(row, db=db, config=config, now=now())
            kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
    return run


def _worker_run(db, config, spool: Spool, now, kinds: dict[str, int], parsers: int = 0):
    def counted(source, outcome, seconds) -> None:
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1

    # Started before the timed part, as `serve`'s worker starts its parsers before any mail.
    pool = ParserPool(parsers) if parsers else None
    if pool is not None:
        pool.start()

    def run() -> None:
        # The worker and its attempt counting read the time through their modules' `utcnow`; a
        # fixed clock replaces both.
        kept = worker_module.utcnow, durable.utcnow
        worker_module.utcnow = durable.utcnow = now
        try:
            worker_module.Worker(db=db, config=config, spool=spool, parsers=pool, on_outcome=counted).drain()
            spool.settle()
        finally:
            worker_module.utcnow, durable.utcnow = kept
            if pool is not None:
                pool.close()
    return run


def _sender_figures(figures: dict, db, config, root: Path, corpus: list[bytes], now, statements: bool,
                    setup_only: bool) -> dict:
    """Store the corpus a group at a time (not timed), timing the sender's drain after each group as `serve` wakes it;
    `setup_only` stores without sending (to subtract from a full run's instruction or system call counts)."""
    spool = Spool(root / "spool").create()
    sender = OutboxWorker(db=db, config=config, clock=now, owner="bench")
    counter = _count_statements(db) if statements else {"count": 0}
    mails = timed = 0
    wall = cpu = 0.0
    for start in range(0, len(corpus), worker_module.GROUP):
        for raw in corpus[start:start + worker_module.GROUP]:
            spool.put(raw, source="smtp:bench", received_at=now(), envelope_rcpts=())
        _worker_run(db, config, spool, now, figures["outcomes"])()
        if setup_only:
            continue
        counted, started, used = counter["count"], time.perf_counter(), time.process_time()
        mails += sender.drain()
        wall, cpu = wall + time.perf_counter() - started, cpu + time.process_time() - used
        timed += counter["count"] - counted
    figures["mails"] = mails
    figures["ms_per_mail"], figures["cpu_ms_per_mail"] = wall / max(mails, 1) * 1000, cpu / max(mails, 1) * 1000
    if statements:
        figures["statements_per_mail"] = timed / max(mails, 1)
    return figures


def _parse_cpu(corpus: list[bytes]) -> float:
    """CPU seconds of the parse stage alone on the corpus (the share of it the worker pays)."""
    cpu = time.process_time()
    for raw in corpus:
        parse_stage(raw)
    return time.process_time() - cpu


def _count_statements(db) -> dict[str, int]:
    counter = {"count": 0}

    def count(*_args) -> None:
        counter["count"] += 1
    event.listen(db.engine, "before_cursor_execute", count)
    return counter


def _tables(db) -> dict[str, list]:
    """Every row of every table, ordered by all its columns: equal dumps mean equal stores."""
    tables = {}
    with db.engine.connect() as connection:
        for name in sorted(inspect(connection).get_table_names()):
            rows = connection.execute(text(f'SELECT * FROM "{name}"')).all()
            tables[name] = sorted((list(map(repr, row)) for row in rows))
    return tables


def _profiler():
    try:
        import pyinstrument
    except ImportError:
        raise SystemExit("--profile needs pyinstrument: .venv/bin/pip install pyinstrument") from None
    profiler = pyinstrument.Profiler(interval=0.0005)
    profiler.start()
    return profiler


def _aware_time(value: str) -> datetime:
    """`--clock`'s value; without an offset every stored time would be refused (they are UTC)."""
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no UTC offset: write it as {value}+00:00")
    return when


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.process_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400, help="generated messages (default 400)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile")
    parser.add_argument("--worker", action="store_true",
                        help="run serve's storing worker (spool load, groups of service.worker.GROUP in one transaction)")
    parser.add_argument("--sender", action="store_true",
                        help="time serve's sender (OutboxWorker.drain to the Maildir) after each stored group")
    parser.add_argument("--parsers", type=int, default=0,
                        help="with --worker: parse in this many parser processes, as serve does with workers > 1")
    parser.add_argument("--statements", action="store_true", help="count SQL statements per message (or mail)")
    parser.add_argument("--phase", choices=PHASES, default="all",
                        help="stop after the setup, or only parse (for instruction counts: subtract setup)")
    parser.add_argument("--clock", type=_aware_time, default=None,
                        help="a fixed `now` (ISO 8601 with offset), for comparing stored rows")
    parser.add_argument("--dump", type=Path, default=None, help="write every table's rows to this JSON file")
    args = parser.parse_args(argv)
    figures = measure(args.messages, args.seed, args.profile, worker=args.worker, statements=args.statements,
                      phase=args.phase, clock=args.clock, dump=args.dump, sender=args.sender,
                      parsers=args.parsers)
    if args.phase != "all":
        print(f"phase {args.phase} done ({figures['messages']} messages)")
        return 0
    if args.sender:
        line = (f"sender (claim, Maildir, record): {figures['ms_per_mail']:.3f} ms/mail, "
                f"CPU {figures['cpu_ms_per_mail']:.3f} ms/mail over {figures['mails']} mails "
                f"from {figures['messages']} messages")
        if "statements_per_mail" in figures:
            line += f"; {figures['statements_per_mail']:.3f} statements/mail"
        print(line)
        return 0
    what = "worker (spool load, parse, store)" if args.worker else "pipeline.process"
    line = (f"{what}: {figures['ms_per_message']:.2f} ms/msg, CPU {figures['cpu_ms_per_message']:.2f} ms/msg "
            f"over {figures['messages']} messages")
    if "parse_cpu_ms_per_message" in figures:
        line += (f"; parse alone CPU {figures['parse_cpu_ms_per_message']:.2f} ms/msg, after parse "
                 f"{figures['cpu_ms_per_message'] - figures['parse_cpu_ms_per_message']:.2f}")
    if "statements_per_message" in figures:
        line += f"; {figures['statements_per_message']:.2f} statements/msg"
    print(f"{line} ({', '.join(f'{k} {v}' for k, v in sorted(figures['outcomes'].items()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
