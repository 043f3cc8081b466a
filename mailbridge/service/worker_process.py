"""One processing worker in a process of its own: started by `serve`, woken through a pipe, restarted if it dies.

Accepting mail (the listener's event loop and its threads) and processing it (parse, thread,
store, queue the acknowledgement) are both CPU-bound Python, so in one process they share one
core through the GIL, and every 250 waited behind them. `serve` therefore runs the workers as
children (`mailbridge.service.workers` decides how many) through the pipe protocol of
`mailbridge.service.child_process`: their setup adds the slot number and how many parser
processes the worker runs; a wake-up means "mail was spooled or stored, look for it" (the
child moves the listener's spool into the database before each batch it processes). Sending
what the worker queued is not its job: the sender (`mailbridge.service.sender_process`), a
process of its own, sends it, woken by `serve` on each of the worker's pulses.

Besides its pulse `p` (after each round and each committed group: what that group queued can
be sent now) the child writes `o KIND SOURCE SECONDS` per processed message (the metrics'
feed) and `l` when it moved spooled mail into the database (`serve` then wakes every worker:
it is theirs too).

Each slot has its own lock file in the state directory (`worker.lock`, `worker-1.lock`, ...):
a restarted worker waits for the previous process of its slot. Slot 0 alone moves the
listener's spool into the database. A worker that dies loses nothing: its transaction rolls
back and the raw rows stay pending.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from mailbridge.config import Config
from mailbridge.outcome import Outcome
from mailbridge.intake.spool import Spool
from mailbridge.store.db import connect
from mailbridge.service.child_process import ChildProcess, ParentLink, hold_slot, run_child, start_child
from mailbridge.service.parsers import ParserPool
from mailbridge.service.worker import Worker

# Named, not __name__: run with -m (by hand, to see it refuse), this module is __main__.
log = logging.getLogger("mailbridge.service.worker_process")
_MODULE = "mailbridge.service.worker_process"


class WorkerProcess(ChildProcess):
    """The parent's side of one worker slot (see `ChildProcess`), with its outcome and spool-loaded lines."""

    def __init__(self, config: Config, url: str, *, slot: int = 0, parsers: int = 0,
                 on_outcome: Callable[[str, str, float], None] = lambda kind, source, seconds: None,
                 on_loaded: Callable[[], None] = lambda: None, **options) -> None:
        self.slot, self.parsers = slot, parsers
        self._on_outcome, self._on_loaded = on_outcome, on_loaded
        super().__init__(config, url, module=_MODULE, name=f"processing worker {slot}", extra=(slot, parsers),
                         on_line=self._line, **options)

    def replace(self, config: Config, parsers: int | None = None) -> None:
        """Run the next child with `config`: the current one finishes the message in hand and exits."""
        self.parsers = self.parsers if parsers is None else parsers
        super().replace(config, (self.slot, self.parsers))

    def _line(self, fields: list[bytes]) -> None:
        if len(fields) == 4 and fields[0] == b"o":
            self._on_outcome(fields[1].decode(), fields[2].decode(), float(fields[3]))
        elif fields == [b"l"]:
            self._on_loaded()


class WorkerLink(ParentLink):
    """The worker's side of the pipes: besides pulses, its outcomes and spool-loaded events."""

    def loaded(self) -> None:
        """Tell the parent that spooled mail is now in the database, for every worker to take."""
        self.say(b"l\n")

    def outcome(self, source: str, outcome: Outcome, seconds: float) -> None:
        """Tell the parent how one message ended, for the metrics."""
        self.say(f"o {outcome.kind} {source} {seconds:.6f}\n".encode())


def main(setup: tuple | None = None) -> int:
    """The child: with its setup (from `child_process.enter`, else read here), process mail until stdin closes."""
    config, url, _, _, pulse_seconds, slot, parsers = setup or start_child(_MODULE)
    pool = ParserPool(parsers) if parsers else None
    if pool is not None:
        pool.start()  # before the first mail, which would otherwise wait for them
    log.info("processing worker started (pid %d): slot %d, %d parser process(es)", os.getpid(), slot, parsers)
    lock = hold_slot(config, "worker.lock" if slot == 0 else f"worker-{slot}.lock", f"processing worker {slot}")
    db = connect(url)
    link = WorkerLink(sys.stdin.buffer, sys.stdout.buffer)
    try:
        spool = Spool(config.spool_dir).create() if slot == 0 else None
        worker = Worker(db=db, config=config, spool=spool, parsers=pool, on_progress=link.pulse,
                        on_outcome=link.outcome, on_loaded=link.loaded)
        run_child(worker, link, pulse_seconds=pulse_seconds)
    finally:
        if pool is not None:
            pool.close()
        db.dispose()
        lock.close()
    log.info("processing worker stopped (pid %d)", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
