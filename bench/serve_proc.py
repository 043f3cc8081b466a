"""Run the real `mailbridge serve` as a subprocess on a temporary config, and watch its database and memory."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import mailgen

ROOT = Path(__file__).resolve().parents[1]
SECRET = "b3nch-5ecret-7f2a9c4e1d8b6053"
_LISTENING_RE = re.compile(r"listening for \w+ on [\d.]+:(\d+)")

# One queue per product address of the generator, each with an agent, so a first mail queues
# an acknowledgement and an agent notice as it would in production.
_QUEUES = (
    ("dynamics", "pomoc-dynamics@example.com", "DYN", "pl", "anna.kowalska@example.com"),
    ("powerbi", "pomoc-powerbi@example.com", "PBI", "pl", "marta.wisniewska@example.com"),
    ("soporte", "soporte@example.com", "SOP", "es", "lucia.garcia@example.com"),
    ("support", "support@example.com", "SUP", "en", "john.smith@example.com"),
    ("critical", "critical@example.com", "CRT", "en", "oncall@example.com"),
)
assert {q[1] for q in _QUEUES} == set(mailgen.PRODUCT_ADDRESSES)


def write_config(directory: Path, extra: str = "", workers: int | None = None) -> Path:
    """A config with the five product queues on the default storage (SQLite under state_dir).

    `workers`: `[processing] workers` (None: the default, the number of cores minus one).
    """
    if workers is not None:
        extra = f"[processing]\nworkers = {workers}\n{extra}"
    queues = "".join(
        f'\n[[queues]]\nname = "{name}"\naddress = "{address}"\ncode_prefix = "{prefix}"\n'
        f'language = "{language}"\nagents = ["{agent}"]\n'
        for name, address, prefix, language, agent in _QUEUES
    )
    path = directory / "mailbridge.toml"
    path.write_text(
        f'[mailbridge]\nstate_dir = "{directory / "state"}"\nsecret = "{SECRET}"\n'
        f'[listener]\nport = 0\nhostname = "bench.example.com"\n{queues}{extra}',
        encoding="utf-8",
    )
    (directory / "state").mkdir(exist_ok=True)
    return path


def database_path(directory: Path) -> Path:
    return directory / "state" / "mailbridge.sqlite3"


@dataclass
class ServeProcess:
    """`mailbridge serve --config DIR/mailbridge.toml`, its port, and when it said it listens.

    `root`: the mailbridge tree it runs from (its working directory, first on its import path).
    """

    directory: Path
    root: Path = ROOT
    process: subprocess.Popen | None = None
    port: int = 0
    ready_at: float = 0.0
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.directory / "serve.log"

    def start(self, timeout: float = 60.0) -> ServeProcess:
        config = self.directory / "mailbridge.toml"
        command = [sys.executable, "-m", "mailbridge", "serve", "--config", str(config)]
        with self.log_path.open("wb") as log:
            # A session of its own: a signal meant for the terminal or job running the benchmark
            # must not stop the daemon halfway through a measurement.
            self.process = subprocess.Popen(command, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.port:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mailbridge serve did not start:\n{self.log_tail()}")
            match = _LISTENING_RE.search(self.log_path.read_text(errors="replace"))
            if match:
                self.port, self.ready_at = int(match.group(1)), time.perf_counter()
            else:
                time.sleep(0.01)
        return self

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: serve finishes the message in hand and exits 0."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def wait_workers(self, timeout: float = 60.0) -> None:
        """Wait until every worker process and the sender have said they started (imports are not a message's CPU)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            # One line per child of serve (the workers' parser processes say nothing).
            text = self.log_path.read_text(errors="replace")
            started = text.count("processing worker started") + text.count("sender started")
            if started >= len(children(self.pid)):
                return
            time.sleep(0.02)

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


class DatabaseWatch:
    """Read-only looks at the daemon's SQLite database while it runs (WAL lets us read alongside)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str) -> tuple:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql).fetchone()
        finally:
            connection.close()

    def progress(self) -> tuple[int, int]:
        """(raw messages accepted, of which finished: processed or quarantined)."""
        total, finished = self._query("SELECT count(*), sum(state != 'pending') FROM raw_message")
        return total, finished or 0

    def counts(self) -> dict[str, int]:
        tickets, = self._query("SELECT count(*) FROM ticket")
        messages, = self._query("SELECT count(*) FROM message")
        acks, = self._query("SELECT count(*) FROM outbox WHERE kind = 'ack'")
        quarantined, = self._query("SELECT count(*) FROM quarantine")
        return {"tickets": tickets, "stored_messages": messages, "acks_queued": acks, "quarantined": quarantined}

    def wait_sent(self, timeout: float, interval: float = 0.05, alive: Callable[[], bool] = lambda: True) -> bool:
        """Wait until no outbox mail is left `queued` (held mail is not sent); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            if self._query("SELECT count(*) FROM outbox WHERE state = 'queued'")[0] == 0:
                return True
            time.sleep(interval)
        return False

    def wait_finished(self, expected: int, timeout: float, interval: float = 0.02,
                      alive: Callable[[], bool] = lambda: True) -> float | None:
        """perf_counter time at which all `expected` messages were seen finished, or None on timeout.

        Processing commits the ticket, the message and its acknowledgement together with the raw
        row's state, so "finished" means the ticket is stored and its acknowledgement queued.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            total, finished = self.progress()
            if total >= expected and finished >= expected:
                return time.perf_counter()
            time.sleep(interval)
        return None


class MemorySampler:
    """Samples VmRSS and VmHWM of a process and its children (kB) in a thread until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self.peak_hwm_kb = 0
        # The largest single process seen (the aim is per process: serve, each worker).
        self.peak_process_rss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        rss = hwm = 0
        for pid in process_tree(self.pid):
            values = _status(pid)
            rss += values.get("VmRSS", 0)
            hwm += values.get("VmHWM", 0)
            self.peak_process_rss_kb = max(self.peak_process_rss_kb, values.get("VmRSS", 0))
        if rss:
            self.samples.append((time.perf_counter(), rss))
            self.peak_hwm_kb = max(self.peak_hwm_kb, hwm)

    @property
    def peak_rss_kb(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


def process_tree(pid: int) -> list[int]:
    """The process and, recursively, its children (a worker process counts towards serve's memory)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending += children(current)
    return found


def children(pid: int) -> list[int]:
    """The process's own children (not theirs)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def _status(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values



_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds (user + system) spent so far by `serve` itself, its worker processes and its sender."""

    serve: float
    workers: float
    worker_pids: tuple[int, ...]
    sender: float = 0.0
    sender_pids: tuple[int, ...] = ()

    def __sub__(self, earlier: CpuTimes) -> CpuTimes:
        return CpuTimes(self.serve - earlier.serve, self.workers - earlier.workers, self.worker_pids,
                        self.sender - earlier.sender, self.sender_pids)


def cpu_times(pid: int) -> CpuTimes:
    """`pid`'s own CPU, and that of every process under it, the living and the ones it has reaped.

    A worker that exits (restarted, or one of several) is added to its parent's reaped-children
    time when the parent waits for it, so counting both keeps the workers' total monotonic. The
    sender (serve's child running `mailbridge.service.sender_process`) is counted apart while it
    lives; a sender that exited is in the reaped time, with the workers.
    """
    own, reaped = _cpu(pid)
    descendants = process_tree(pid)[1:]
    senders = tuple(child for child in descendants if is_sender(child))
    workers = tuple(child for child in descendants if child not in senders)
    return CpuTimes(own, reaped + sum(sum(_cpu(child)) for child in workers), workers,
                    sum(sum(_cpu(child)) for child in senders), senders)


def is_sender(pid: int) -> bool:
    """Whether `pid` is serve's sender process (by its command line)."""
    try:
        return b"mailbridge.service.sender_process" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def own_cpu_seconds(pid: int) -> float:
    """utime + stime of a living process in seconds (0 once it is gone), its children not counted."""
    return _cpu(pid)[0]


def _cpu(pid: int) -> tuple[float, float]:
    """(utime + stime, cutime + cstime) of a process in seconds; zeros once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0.0
    # The command name in parentheses may hold spaces: the fields are counted after its end.
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime) / _CLOCK_TICKS, (cutime + cstime) / _CLOCK_TICKS
