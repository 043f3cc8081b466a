"""Test support for `mailbridge serve`: configs, a real listener in a thread, messages, waiting."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import format_datetime
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from mailbridge.service import daemon
from mailbridge.config import Config, load_config
from mailbridge.store.db import Database

QUEUES = """
[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
aliases = ["dynamics@example.com"]
code_prefix = "DYN"
language = "pl"
agents = ["anna.kowalska@example.com"]

[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
language = "es"
"""
SECRET = "9f2c7a4e1b8d6053aa17c3e9"


def write_config(directory: Path, *, database_url: str, listener: str = "port = 0") -> Path:
    """A config file for tests: two queues, the given database and `[listener]` lines."""
    path = directory / "mailbridge.toml"
    path.write_text(
        f'[mailbridge]\nstate_dir = "{directory / "state"}"\nsecret = "{SECRET}"\n'
        f'[database]\nurl = "{database_url}"\n[listener]\n{listener}\n{QUEUES}',
        encoding="utf-8",
    )
    return path


def make_config(directory: Path, db: Database, listener: str = "port = 0") -> Config:
    return load_config(write_config(directory, database_url=db.url, listener=listener), env={})


def message(subject: str = "Nie działa logowanie", *, to: str = "pomoc-dynamics@example.com",
            sender: str = "klient@example.org", body: str = "Dzień dobry, nie mogę się zalogować.",
            message_id: str | None = None) -> bytes:
    """A small RFC 5322 message in UTF-8 with a fresh Message-ID unless one is given."""
    message_id = message_id or f"{uuid.uuid4().hex}@client.example.org"
    return (
        f"From: Klient <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\nMessage-ID: <{message_id}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode("utf-8")


class ServerThread:
    """`daemon.serve` on its own event loop in a thread, listening on a free loopback port."""

    def __init__(self, config: Config, db: Database) -> None:
        self.config, self.db = config, db
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._reload: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="mailbridge-serve", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        # Unloaded, the listener is up in well under a second; the rest is room for a busy machine.
        if not self._ready.wait(60):
            raise TimeoutError("the listener did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive() and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        assert not self._thread.is_alive(), "the daemon did not stop"

    def reload(self) -> None:
        """What SIGHUP does to the daemon: read the config file again."""
        self._loop.call_soon_threadsafe(self._reload.set)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._error = exc
            self._ready.set()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    async def _serve(self) -> None:
        self._stop, self._reload = asyncio.Event(), asyncio.Event()
        await daemon.serve(self.config, self.db, stop=self._stop, reload=self._reload, on_ready=self._on_ready)

    def _on_ready(self, port: int) -> None:
        self.port = port
        self._ready.set()


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition",
               interval: float = 0.02) -> None:
    """Check `predicate` every `interval` seconds until it holds; fail after `timeout` seconds.

    A predicate that costs the system under test work (a search in a big mailbox) deserves a
    longer interval, so that the test's own looking does not slow down what it waits for.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def count(db: Database, model: type, *where: object) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def swaks(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["swaks", "--helo", "client.test", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


@contextmanager
def database_unavailable(db: Database, postgres_server_url: str | None = None) -> Iterator[None]:
    """Make the database unreachable for new connections, then bring it back unchanged.

    SQLite: the file is moved aside and a directory takes its name. PostgreSQL: the database is
    renamed (its sessions ended first). Either way the pool is emptied so nothing reuses an old
    connection.
    """
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        aside = path.with_name(path.name + ".aside")
        path.rename(aside)
        path.mkdir()
        db.dispose()
        try:
            yield
        finally:
            path.rmdir()
            aside.rename(path)
        return
    name = url.database
    _rename_postgres_database(postgres_server_url, name, f"{name}_away")
    db.dispose()
    try:
        yield
    finally:
        _rename_postgres_database(postgres_server_url, f"{name}_away", name)


def _rename_postgres_database(server_url: str | None, old: str, new: str) -> None:
    assert server_url, "the PostgreSQL server URL is needed to rename a database"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            # The daemon's worker may reconnect between the two statements: try again.
            for _ in range(50):
                connection.exec_driver_sql(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{old}'")
                try:
                    connection.exec_driver_sql(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
                    return
                except OperationalError:
                    time.sleep(0.05)
            raise AssertionError(f"could not rename database {old}")
    finally:
        engine.dispose()


def have_swaks() -> bool:
    return shutil.which("swaks") is not None


class ServeProcess:
    """`mailbridge serve` as a child process, its log lines collected as they come."""

    def __init__(self, config_path: Path, *extra: str) -> None:
        self.args = [sys.executable, "-m", "mailbridge", "serve", "--config", str(config_path), *extra]
        self.lines: list[str] = []
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> ServeProcess:
        """Start it and wait for its "listening" line (or its exit, for failures).

        Unloaded, a start takes 1-2 s; the deadline leaves room for a machine busy with other runs.
        """
        self.lines = []
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, encoding="utf-8")
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        wait_until(lambda: self.port or self.process.poll() is not None, timeout, "the listener to start")
        return self

    def _read(self, process: subprocess.Popen) -> None:
        # The reader owns the pipe and closes it at its end: closed from `wait` while a loaded
        # machine still had this thread reading, it failed with "I/O operation on closed file".
        with process.stderr:
            for line in process.stderr:
                self.lines.append(line.rstrip("\n"))
                found = re.search(r"listening for \w+ on [\d.]+:(\d+)", line)
                if found:
                    self.port = int(found.group(1))

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send `signum` and return the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        code = self.process.wait(timeout)
        # The pipe ends when the last process holding it has exited; give the reader time to
        # take the last lines (a test reads them next) on a busy machine.
        self._reader.join(30)
        self.port = 0
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.wait()


@contextmanager
def write_transaction_held(db: Database, statement: str) -> Iterator[None]:
    """`db` inside a transaction that ran `statement` and stays open for the block: a writer hung
    (or SIGSTOPped) inside its transaction, holding the write turn and SQLite's write lock."""
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.session() as session:
            session.execute(text(statement))
            inside.set()
            release.wait(600)

    holder = threading.Thread(target=hold, name="write-transaction-held")
    holder.start()
    try:
        assert inside.wait(10), "the writer did not get its transaction"
        yield
    finally:
        release.set()
        holder.join(10)
