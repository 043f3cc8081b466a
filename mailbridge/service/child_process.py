"""`serve`'s child processes (workers, the sender): both sides of their pipe, restarts and the per-slot lock.

`serve` talks to each child over its stdin: first the pickled setup (the `Config`, the
database URL, the log level and format, the pulse interval and what the kind of child needs
besides: length-prefixed), then one byte per "there is work, look for it"; end of file means
"finish the work in hand and exit" (a stop, a reload, or the parent died: either way the child
must not outlive it). The child answers on its stdout, one line per event: `p` is its pulse
(after each round of work and each piece of it done), other lines are the kind's own. Wake-ups
are coalesced: while one is on its way and the child has not pulsed since, another is only noted
and sent at the next pulse (see `ChildProcess.wake`). `alive`
is true while pulses keep coming, which is what `serve` feeds systemd's watchdog with, so a
child that hangs (or is stopped) stops the watchdog pings and systemd restarts the service. A
reload (`replace`) hands a new config to a new child once the old one has finished. A child
let go before it began (a stop right after the start) exits without importing its work's
modules (`enter`), and every child ends without Python's teardown (`service.leave`): `serve` waits for
its children at each stop and reload.

The child logs to the same stderr. It runs in a process group of its own and ignores SIGINT
and SIGTERM (systemd's unit uses KillMode=mixed, so its stop signal goes to `serve` alone): the
parent decides when it stops, after the listener. A child that dies anyway is started again
after a pause, doubled while it keeps dying. Each child holds a lock file of its own in the
state directory for its life (`hold_slot`): the next one of the same slot waits for it before
it takes back that slot's outbox leases.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from importlib import import_module
from typing import Protocol

from mailbridge.config import Config
from mailbridge.errors import error_line
from mailbridge.logs import Outage, configure_logging, redact
from mailbridge.service.leave import leave

log = logging.getLogger(__name__)

# How often a child looks for work it was not told about, and its pulse when systemd sets no watchdog.
POLL_SECONDS = 5.0
# The longest pause between tries while the work keeps failing (the database is down).
RETRY_MAX_SECONDS = 30.0
# Pause before starting a child again after one died; doubled up to the maximum while it keeps dying.
RESTART_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
# How long a stopping child may take to finish the work in hand before it is killed.
STOP_SECONDS = 60.0
WAKE = b"w"
# Sending runs flat out through a backlog of mail no one waits for to the second: the sender
# yields the CPU to the listener and to processing whenever they want it, and has all of it
# otherwise. Processing is not niced: through a burst it is what the last ticket waits for, and
# at niceness 10 it got about a tenth of a core the listener wanted too (issue 17: 4-8 % more
# processed msg/s at 0, the listener's p99 at 200 msg/s offered 4.2 -> 5.1 ms).
SENDER_NICENESS = 10
# How often a child waiting for its slot's lock (`hold_slot`) tries it again.
SLOT_LOOK_SECONDS = 0.2
# A child silent for this many pulse intervals is taken for hung.
PULSE_MISSES = 3
_LENGTH = struct.Struct("!I")


class ChildProcess:
    """The parent's side: start the child (`module`'s `main`), wake it, restart it when it dies, stop it.

    `name` is what the log calls it; `extra` is the kind's part of the setup; `niceness` is added
    to the child's (`os.nice`) before it imports anything; `on_line` gets each line the child
    writes other than its pulse, split into fields; `on_pulse` each pulse.
    """

    def __init__(self, config: Config, url: str, *, module: str, name: str, extra: tuple = (),
                 log_level: str = "info", log_format: str = "text", pulse_seconds: float = POLL_SECONDS,
                 niceness: int = 0, on_line: Callable[[list[bytes]], None] = lambda fields: None,
                 on_pulse: Callable[[], None] = lambda: None) -> None:
        self._url, self._log_level, self._log_format = url, log_level, log_format
        self.name, self.pulse_seconds = name, pulse_seconds
        self._on_line, self._on_pulse = on_line, on_pulse
        # -c rather than -m: a parser process (forked by multiprocessing) imports its parent's
        # __main__ module, and a child module would bring the database layers with it.
        self._command = f"from mailbridge.service.child_process import enter; enter({module!r}, {niceness:d})"
        self._setup = self._pack(config, extra)
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._replacing = False
        self._supervisor: asyncio.Task | None = None
        self._last_pulse = 0.0
        # A wake-up written and no pulse since; and one asked for meanwhile (see `wake`).
        self._wake_sent = self._wake_due = False
        self.restarts = 0

    def _pack(self, config: Config, extra: tuple) -> bytes:
        return pickle.dumps((config, self._url, self._log_level, self._log_format, self.pulse_seconds, *extra))

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

    def replace(self, config: Config, extra: tuple = ()) -> None:
        """Run the next child with `config`: the current one finishes the work in hand and exits."""
        self._setup = self._pack(config, extra)
        process = self._process
        if process is not None and process.returncode is None and process.stdin is not None:
            self._replacing = True
            process.stdin.close()

    async def start(self) -> None:
        """Start the child and the task that restarts it if it dies."""
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise())

    def wake(self) -> None:
        """Tell the child there is work (a no-op while it is being restarted).

        The listener wakes the worker for every message: one byte each cost a write here and,
        in the busy child, a read and a GIL hand-over to its pipe thread. While a wake-up is on
        its way and the child has not pulsed since, this one is only noted and written at the next
        pulse: a child pulses after each round, so work that came after the round looked is
        still followed by a wake-up, and one arriving mid-round makes the child go round again.
        """
        if self._wake_sent:
            self._wake_due = True
            return
        process = self._process
        if process is not None and process.stdin is not None and not process.stdin.is_closing():
            process.stdin.write(WAKE)
            self._wake_sent = True

    def _pulsed(self) -> None:
        self._wake_sent = False
        if self._wake_due:
            self._wake_due = False
            self.wake()

    async def stop(self) -> None:
        """Let the child finish the work in hand and exit; kill it if it takes too long."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                log.error("%s did not stop within %.0f s: killed", self.name, STOP_SECONDS)
                process.kill()
                await process.wait()
        if self._supervisor is not None:
            await self._supervisor

    async def _spawn(self) -> None:
        # A process group of its own: Ctrl-C in a terminal signals the foreground group, and
        # the child must stop when serve tells it, after the listener, not at the same moment.
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", self._command,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, process_group=0)
        self._process.stdin.write(_LENGTH.pack(len(self._setup)) + self._setup)
        if self._stopping:
            # The stop came while this child was being started (a reload's or a restart's):
            # `stop` let the one before go and now waits for the supervisor, which waits for
            # this child. Let it go too: it leaves before its imports (`enter`).
            self._process.stdin.close()
        # Starting counts as a pulse: the child gets its first interval to say it is there.
        self._last_pulse = time.monotonic()
        # A new child drains first thing: nothing is owed to it.
        self._wake_sent = self._wake_due = False
        asyncio.create_task(self._listen(self._process))

    async def _listen(self, process: asyncio.subprocess.Process) -> None:
        while line := await process.stdout.readline():
            if process is self._process:
                self._last_pulse = time.monotonic()
            fields = line.split()
            if fields == [b"p"]:
                if process is self._process:
                    self._pulsed()
                self._on_pulse()
            else:
                self._on_line(fields)

    async def _supervise(self) -> None:
        pause = RESTART_SECONDS
        while True:
            code = await self._process.wait()
            if self._stopping:
                return
            if self._replacing:
                self._replacing = False
                log.info("%s restarted with the new config", self.name)
                await self._spawn()
                continue
            self.restarts += 1
            log.error("the %s exited with %s; starting it again in %.0f s", self.name, _exit_text(code), pause)
            await asyncio.sleep(pause)
            if self._stopping:
                return
            pause = min(pause * 2, RESTART_MAX_SECONDS)
            await self._spawn()


def _exit_text(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"code {code}"


class ParentLink:
    """The child's side of the pipes: wake-ups and end of file from stdin, pulses and events to stdout."""

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
        self.say(b"p\n")

    def say(self, line: bytes) -> None:
        """Write one event line to the parent (nothing if it is gone: stdin's end of file stops us next)."""
        if self._stdout is None:
            return
        try:
            with self._pulse_lock:
                self._stdout.write(line)
                self._stdout.flush()
        except OSError:
            pass


class Drains(Protocol):
    def drain(self, should_stop: Callable[[], bool]) -> object: ...


def run_child(work: Drains, link: ParentLink, after_round: Callable[[], None] = lambda: None,
              poll_seconds: float = POLL_SECONDS, pulse_seconds: float = POLL_SECONDS,
              outage: Outage | None = None) -> None:
    """Drain `work` whenever woken, and every `poll_seconds` in any case, until the parent lets go.

    While draining fails (the database is down) the child backs off for real: work arriving
    meanwhile does not wake it (it waits in the spool or the outbox), and the outage is logged
    once. It still pulses: the loop is alive, only its database is not.
    """
    outage = outage or Outage(log, "processing", longest=RETRY_MAX_SECONDS)
    while not link.closed.is_set():
        link.woken.clear()
        try:
            work.drain(link.closed.is_set)
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


def enter(module: str, niceness: int = 0) -> None:
    """The child's command: renice, read the setup, run `module`'s `main(setup)` unless `serve` has let go.

    The setup needs only the config's classes; `module` brings the database layers and the
    pipeline, a second of imports. A `serve` stopped (or reloaded) right after it started the
    child would wait that second for a child with nothing to do.
    """
    setup = start_child(module, niceness)
    if _let_go(sys.stdin.buffer):
        leave(0)
    main = import_module(module).main
    # Once more: the imports take long enough for a stop to come meanwhile.
    if _let_go(sys.stdin.buffer):
        leave(0)
    leave(main(setup))


def _let_go(stdin) -> bool:
    """Whether the parent has already closed our stdin, looked at without waiting.

    Wake-ups read on the way are dropped: a child that goes on drains first thing anyway.
    """
    fd = stdin.fileno()
    while select.select([fd], [], [], 0)[0]:
        if not os.read(fd, 4096):
            return True
    return False


def start_child(module: str, niceness: int = 0) -> tuple:
    """In the child, first: deaf to stop signals, reniced, logging set up; returns the setup tuple."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    if niceness:
        os.nice(niceness)
    setup = _read_setup(sys.stdin.buffer, module)
    config, level, log_format = setup[0], setup[2], setup[3]
    configure_logging(level, log_format)
    redact(*config.secrets())
    return setup


def _read_setup(stdin, module: str) -> tuple:
    header = stdin.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise SystemExit(f"{module} is started by `mailbridge serve`, not by hand")
    (length,) = _LENGTH.unpack(header)
    # The parent wrote it a moment ago through a pipe only it holds: trusted input.
    return pickle.loads(stdin.read(length))


def hold_slot(config: Config, lock_name: str, name: str):
    """Hold `state_dir/lock_name` for the process's life, waiting for a previous holder.

    A `serve` killed with SIGKILL leaves its children finishing the work in hand; the next
    child of a slot waits for the previous one before it takes back that slot's outbox leases,
    or both could send the same mail. A child let go while it waits (its stdin closed) leaves.
    """
    config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = open(config.state_dir / lock_name, "a+b")  # noqa: SIM115 - held until the process exits
    os.chmod(handle.name, 0o600)
    if not _locked(handle):
        log.info("waiting for the previous %s to finish", name)
        while not _locked(handle):
            # Still listening to `serve` meanwhile: this child has taken nothing yet, and a stop
            # or reload must not wait for the holder, which may be another instance's child on
            # the same state directory and live as long as that instance.
            select.select([sys.stdin.buffer.fileno()], [], [], SLOT_LOOK_SECONDS)
            if _let_go(sys.stdin.buffer):
                leave(0)
    return handle


def _locked(handle) -> bool:
    """Take the lock on `handle` if it is free; whether it is ours now."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
