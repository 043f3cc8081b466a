"""One processing worker (with its outbox sender) in a process of its own: started by `serve`, woken through a pipe, restarted if it dies.

Accepting mail (the listener's event loop and its threads) and processing and sending it
(parse, thread, store, queue and send the acknowledgement) are all CPU-bound Python, so in one
process they share one core through the GIL, and every 250 waited behind them. `serve`
therefore runs the workers as children (`mailbridge.service.workers` decides how many) and
talks to each over its stdin: first the pickled `Config`, the database URL, its slot number
and how many parser processes it runs (length-prefixed),
then one byte per "mail was spooled, stored or queued, look for it" (the child moves the
listener's spool into the database before each batch it processes, and wakes its outbox thread
after each group it commits and each round); end of file means "finish the message in hand and
exit" (a stop, or the parent died: either way the child must not outlive it).

The child answers on its stdout, one line per event: `p` after each round and committed group
(its pulse), `o KIND SOURCE SECONDS` per processed message (the metrics' feed) and `l` when
it moved spooled mail into the database (`serve` then wakes every worker: it is theirs too).
`alive` is true while pulses keep coming, which is what `serve` feeds systemd's watchdog with,
so a worker that hangs (or is stopped) stops the watchdog pings and systemd restarts the service.
A reload (`replace`) hands a new config to a new child once the old one has finished.

Each slot has its own lock file in the state directory (`worker.lock`, `worker-1.lock`, ...)
and its own outbox lease owner (`lease_owner`): a restarted worker waits for the previous
process of its slot and then takes back that slot's leases only, never those of a sibling that
is still sending. Slot 0 alone moves the listener's spool into the database.

The child logs to the same stderr. It runs in a process group of its own and ignores SIGINT
and SIGTERM (systemd's unit uses KillMode=mixed, so its stop signal goes to `serve` alone): the
parent decides when it stops, after the listener. A child that dies anyway loses nothing (its
transaction rolls back, the raw row stays pending, a mail being sent is due again after its
lease); the parent starts a new one after a pause.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pickle
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable

from mailbridge.config import Config
from mailbridge.errors import error_line
from mailbridge.logs import Outage, configure_logging, redact
from mailbridge.outcome import Outcome
from mailbridge.outgoing.outbox_worker import OutboxWorker, SendingThread, instance_id
from mailbridge.intake.spool import Spool
from mailbridge.store.db import connect
from mailbridge.service.parsers import ParserPool
from mailbridge.service.worker import Worker

# Named, not __name__: run with -m (by hand, to see it refuse), this module is __main__.
log = logging.getLogger("mailbridge.service.worker_process")

# How often the worker looks for pending mail it was not told about: rows another instance
# stored (several instances on PostgreSQL) or rows a failed attempt left behind.
POLL_SECONDS = 5.0
# The longest pause between tries while processing keeps failing (the database is down).
RETRY_MAX_SECONDS = 30.0
# Pause before starting a worker again after one died; doubled up to the maximum while it keeps dying.
RESTART_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
# How long a stopping worker may take to finish the message in hand before it is killed.
STOP_SECONDS = 60.0
WAKE = b"w"
# A worker silent for this many pulse intervals is taken for hung.
PULSE_MISSES = 3
# Processing runs flat out through a backlog, while an SMTP client is waiting for each 250: the
# worker yields the CPU to the listener whenever both want it, and has all of it otherwise.
NICENESS = 10
_LENGTH = struct.Struct("!I")
# The child is started with -c rather than -m: a parser process (forked by multiprocessing)
# imports its parent's __main__ module, and this one would bring the database layers with it.
_CHILD = "import sys; from mailbridge.service.worker_process import main; sys.exit(main())"


class WorkerProcess:
    """The parent's side: start the child, wake it, restart it when it dies, stop it."""

    def __init__(self, config: Config, url: str, *, log_level: str = "info", log_format: str = "text",
                 pulse_seconds: float = POLL_SECONDS, slot: int = 0, parsers: int = 0,
                 on_outcome: Callable[[str, str, float], None] = lambda kind, source, seconds: None,
                 on_loaded: Callable[[], None] = lambda: None) -> None:
        self._url, self._log_level, self.pulse_seconds = url, log_level, pulse_seconds
        self._on_outcome, self._on_loaded = on_outcome, on_loaded
        self._log_format = log_format
        self.slot, self.parsers = slot, parsers
        self._setup = self._pack(config)
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._replacing = False
        self._supervisor: asyncio.Task | None = None
        self._last_pulse = 0.0
        self.restarts = 0

    def _pack(self, config: Config) -> bytes:
        return pickle.dumps((config, self._url, self._log_level, self._log_format, self.pulse_seconds,
                             self.slot, self.parsers))

    @property
    def alive(self) -> bool:
        """Whether the child runs and has pulsed lately (a hung or stopped child has not)."""
        process = self._process
        if process is None or process.returncode is not None:
            return False
        silence = time.monotonic() - self._last_pulse
        return silence < self.pulse_seconds * PULSE_MISSES

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def replace(self, config: Config, parsers: int | None = None) -> None:
        """Run the next child with `config`: the current one finishes the message in hand and exits."""
        self.parsers = self.parsers if parsers is None else parsers
        self._setup = self._pack(config)
        process = self._process
        if process is not None and process.returncode is None and process.stdin is not None:
            self._replacing = True
            process.stdin.close()

    async def start(self) -> None:
        """Start the child and the task that restarts it if it dies."""
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise())

    def wake(self) -> None:
        """Tell the child that mail was spooled, stored or queued (a no-op while it is being restarted)."""
        process = self._process
        if process is not None and process.stdin is not None and not process.stdin.is_closing():
            process.stdin.write(WAKE)

    async def stop(self) -> None:
        """Let the child finish the message in hand and exit; kill it if it takes too long."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                log.error("processing worker %d did not stop within %.0f s: killed", self.slot, STOP_SECONDS)
                process.kill()
                await process.wait()
        if self._supervisor is not None:
            await self._supervisor

    async def _spawn(self) -> None:
        # A process group of its own: Ctrl-C in a terminal signals the foreground group, and
        # the worker must stop when serve tells it, after the listener, not at the same moment.
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CHILD,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, process_group=0)
        self._process.stdin.write(_LENGTH.pack(len(self._setup)) + self._setup)
        # Starting counts as a pulse: the child gets its first interval to say it is there.
        self._last_pulse = time.monotonic()
        asyncio.create_task(self._listen(self._process))

    async def _listen(self, process: asyncio.subprocess.Process) -> None:
        while line := await process.stdout.readline():
            if process is self._process:
                self._last_pulse = time.monotonic()
            fields = line.split()
            if len(fields) == 4 and fields[0] == b"o":
                self._on_outcome(fields[1].decode(), fields[2].decode(), float(fields[3]))
            elif fields == [b"l"]:
                self._on_loaded()

    async def _supervise(self) -> None:
        pause = RESTART_SECONDS
        while True:
            code = await self._process.wait()
            if self._stopping:
                return
            if self._replacing:
                self._replacing = False
                log.info("processing worker %d restarted with the new config", self.slot)
                await self._spawn()
                continue
            self.restarts += 1
            log.error("the processing worker exited with %s; starting it again in %.0f s (slot %d)",
                      _exit_text(code), pause, self.slot)
            await asyncio.sleep(pause)
            if self._stopping:
                return
            pause = min(pause * 2, RESTART_MAX_SECONDS)
            await self._spawn()


def _exit_text(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"code {code}"


class ParentLink:
    """The child's side of the pipes: wake-ups and end of file from stdin, pulses to stdout."""

    def __init__(self, stdin, stdout=None) -> None:
        self._stdin = stdin
        self._stdout = stdout
        self._pulse_lock = threading.Lock()
        self.woken = threading.Event()
        self.closed = threading.Event()
        threading.Thread(target=self._read, name="parent-link", daemon=True).start()

    def _read(self) -> None:
        while self._stdin.read1(4096):
            self.woken.set()
        self.closed.set()
        self.woken.set()

    def pulse(self) -> None:
        """Tell the parent this process is still getting work done (see the module docstring)."""
        self._say(b"p\n")

    def loaded(self) -> None:
        """Tell the parent that spooled mail is now in the database, for every worker to take."""
        self._say(b"l\n")

    def outcome(self, source: str, outcome: Outcome, seconds: float) -> None:
        """Tell the parent how one message ended, for the metrics."""
        self._say(f"o {outcome.kind} {source} {seconds:.6f}\n".encode())

    def _say(self, line: bytes) -> None:
        if self._stdout is None:
            return
        try:
            with self._pulse_lock:
                self._stdout.write(line)
                self._stdout.flush()
        except OSError:
            pass  # the parent is gone: stdin's end of file stops us next


def run_child(worker: Worker, link: ParentLink, after_round: Callable[[], None],
              poll_seconds: float = POLL_SECONDS, pulse_seconds: float = POLL_SECONDS,
              outage: Outage | None = None) -> None:
    """Drain pending mail whenever woken, and every `poll_seconds` in any case, until the parent lets go.

    While draining fails (the database is down) the worker backs off for real: mail arriving
    meanwhile does not wake it (it is safe in the spool), and the outage is logged once. It
    still pulses: the loop is alive, only its database is not.
    """
    outage = outage or Outage(log, "processing", longest=RETRY_MAX_SECONDS)
    while not link.closed.is_set():
        link.woken.clear()
        try:
            worker.drain(link.closed.is_set)
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: retry after a pause
            _pause(link, outage.failed(error_line(exc)), pulse_seconds)
            continue
        outage.recovered()
        after_round()
        link.pulse()
        link.woken.wait(min(poll_seconds, pulse_seconds))


def _pause(link: ParentLink, seconds: float, pulse_seconds: float) -> None:
    """Wait out a back-off, deaf to wake-ups, pulsing every `pulse_seconds`, unless the parent lets go."""
    deadline = time.monotonic() + seconds
    while not link.closed.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        link.pulse()
        link.closed.wait(min(left, pulse_seconds))


def _read_setup(stdin) -> tuple[Config, str, str, str, float, int, int]:
    header = stdin.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise SystemExit("mailbridge.service.worker_process is started by `mailbridge serve`, not by hand")
    (length,) = _LENGTH.unpack(header)
    # The parent wrote it a moment ago through a pipe only it holds: trusted input.
    return pickle.loads(stdin.read(length))


def lease_owner(config: Config, slot: int) -> str:
    """Who holds the outbox leases of worker `slot`: slot 0 keeps the name of the single worker before it."""
    # In front: the owner is cut to 200 characters, and a long state directory must not cut the slot off.
    return instance_id(config) if slot == 0 else f"w{slot}:{instance_id(config)}"


def _one_worker_per_slot(config: Config, slot: int):
    """Hold `state_dir/worker.lock` (slot 0) or `worker-N.lock` for the process's life, waiting for a previous holder.

    A `serve` killed with SIGKILL leaves its workers finishing the message and the mail in hand;
    the next worker of a slot waits for the previous one before it takes back that slot's
    outbox leases, or both could send the same mail.
    """
    config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = "worker.lock" if slot == 0 else f"worker-{slot}.lock"
    handle = open(config.state_dir / name, "a+b")  # noqa: SIM115 - held until the process exits
    os.chmod(handle.name, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("waiting for the previous processing worker %d to finish", slot)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _resume(sender: OutboxWorker) -> None:
    # The mails the previous worker had claimed when it died are due now, not after their lease.
    try:
        sender.resume()
    except Exception as exc:  # noqa: BLE001 - the database may be down: the leases then just run out
        log.error("could not take back the outbox leases of the previous worker: %s", error_line(exc))


def main() -> int:
    """The child: read the setup, then process mail until stdin closes."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    os.nice(NICENESS)
    stdin = sys.stdin.buffer
    config, url, level, log_format, pulse_seconds, slot, parsers = _read_setup(stdin)
    configure_logging(level, log_format)
    redact(*config.secrets())
    log.info("processing worker started (pid %d): slot %d, %d parser process(es)", os.getpid(), slot, parsers)
    lock = _one_worker_per_slot(config, slot)
    db = connect(url)
    sender = OutboxWorker(db=db, config=config, owner=lease_owner(config, slot))
    _resume(sender)
    sending = SendingThread(sender).start()
    link = ParentLink(stdin, sys.stdout.buffer)
    pool = ParserPool(parsers) if parsers else None

    def progressed() -> None:
        sending.wake()
        link.pulse()

    try:
        spool = Spool(config.spool_dir).create() if slot == 0 else None
        worker = Worker(db=db, config=config, spool=spool, parsers=pool, on_progress=progressed,
                        on_outcome=link.outcome, on_loaded=link.loaded)
        run_child(worker, link, after_round=sending.wake, pulse_seconds=pulse_seconds)
    finally:
        if pool is not None:
            pool.close()
        sending.stop()
        db.dispose()
        lock.close()
    log.info("processing worker stopped (pid %d)", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
