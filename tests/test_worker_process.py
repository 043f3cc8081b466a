"""`serve` runs processing in a child process: restarted when it dies, never outliving `serve`."""

from __future__ import annotations

import asyncio
import os
import re
import smtplib
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_support import ServeProcess, count, message, wait_until, write_config

from mailbridge.config import load_config
from mailbridge.service.child_process import ChildProcess
from mailbridge.store.db import open_database
from mailbridge.store.models import Ticket

_STARTED = re.compile(r"processing worker started \(pid (\d+)\)")


@pytest.fixture
def serve(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}")
    server = ServeProcess(write_config(tmp_path, database_url=db.url)).start()
    yield server, db
    server.kill()
    db.dispose()


def worker_pids(server: ServeProcess) -> list[int]:
    return [int(m.group(1)) for line in server.lines if (m := _STARTED.search(line))]


def send(server: ServeProcess, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test", timeout=15) as smtp:
        smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], message(subject))


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet (a container's init may not)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" in status.read_text()
    except FileNotFoundError:
        return True


def test_a_killed_worker_is_started_again_and_mail_meanwhile_is_not_lost(serve):
    server, db = serve
    wait_until(lambda: worker_pids(server), what="the worker to start")
    [first] = worker_pids(server)
    os.kill(first, 9)
    send(server, "Wysłane, gdy nikt nie przetwarzał")
    wait_until(lambda: len(worker_pids(server)) == 2, timeout=30, what="the worker to be started again")
    wait_until(lambda: count(db, Ticket) == 1, timeout=30, what="the ticket")
    assert any("processing worker 0 exited with signal 9; starting it again" in line for line in server.lines)
    assert server.stop() == 0 and gone(worker_pids(server)[-1])


def test_the_worker_does_not_outlive_a_killed_serve(serve):
    server, _ = serve
    wait_until(lambda: worker_pids(server), what="the worker to start")
    [child] = worker_pids(server)
    server.kill()
    wait_until(lambda: gone(child), timeout=30, what="the orphaned worker to exit")


def test_a_stop_signal_to_the_worker_alone_is_ignored(serve):
    # systemd and Ctrl-C signal the whole group; the worker waits for serve to stop it.
    server, db = serve
    wait_until(lambda: worker_pids(server), what="the worker to start")
    [child] = worker_pids(server)
    os.kill(child, 15)
    os.kill(child, 2)
    time.sleep(0.5)
    assert not gone(child)
    send(server, "Po sygnale")
    wait_until(lambda: count(db, Ticket) == 1, timeout=30, what="the ticket")
    assert server.stop() == 0
    wait_until(lambda: gone(child), what="the worker to exit with serve")


@pytest.mark.parametrize("module", ["mailbridge.service.worker_process", "mailbridge.service.sender_process"])
def test_a_child_let_go_before_it_began_exits_at_once_without_touching_the_state(tmp_path, module):
    # A stop (or reload) right after `serve` started a child: stdin already closed behind the setup.
    url = f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}"
    config = load_config(write_config(tmp_path, database_url=url), env={})
    child = ChildProcess(config, url, module=module, name="child", extra=(0, 0) if "worker" in module else ())
    setup = child._setup
    process = subprocess.run([sys.executable, "-c", child._command], capture_output=True, timeout=60,
                             input=struct.pack("!I", len(setup)) + setup)
    assert process.returncode == 0, process.stderr.decode()
    assert b"started" not in process.stderr and b"Traceback" not in process.stderr
    # It neither took its slot's lock nor opened the database.
    assert not list(config.state_dir.glob("*.lock")) and not (tmp_path / "mailbridge.sqlite3").exists()


class _Stdin:
    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


class _Process:
    def __init__(self) -> None:
        self.stdin = _Stdin()


def test_wake_ups_are_coalesced_until_the_child_pulses_and_none_is_lost(tmp_path):
    url = f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}"
    child = ChildProcess(load_config(write_config(tmp_path, database_url=url), env={}), url,
                         module="mailbridge.service.sender_process", name="child")
    child._process = process = _Process()
    child.wake()
    child.wake()
    child.wake()
    assert process.stdin.written == b"w"  # one on its way; the others noted
    child._pulsed()
    assert process.stdin.written == b"ww"  # the round that pulsed may have looked before them
    child._pulsed()
    assert process.stdin.written == b"ww"  # nothing owed
    child.wake()
    assert process.stdin.written == b"www"


def test_a_stop_while_a_reloaded_child_is_being_started_lets_that_child_go_too(tmp_path, monkeypatch):
    # CI once hung here: `serve` stopped while a reload's new worker was being spawned, the stop
    # let the old child go, and the supervisor then waited for the new one, whose stdin no one closed.
    url = f"sqlite:///{tmp_path / 'mailbridge.sqlite3'}"
    config = load_config(write_config(tmp_path, database_url=url), env={})
    open_database(url).dispose()
    spawn = asyncio.create_subprocess_exec
    spawning = None

    async def slow_spawn(*args, **kwargs):
        spawning.set()
        await asyncio.sleep(0.5)  # the stop comes now
        return await spawn(*args, **kwargs)

    async def scenario() -> ChildProcess:
        nonlocal spawning
        spawning = asyncio.Event()
        child = ChildProcess(config, url, module="mailbridge.service.sender_process", name="sender")
        await child.start()
        monkeypatch.setattr(asyncio, "create_subprocess_exec", slow_spawn)
        child.replace(config)
        await asyncio.wait_for(spawning.wait(), 60)
        await asyncio.wait_for(child.stop(), 30)
        return child

    child = asyncio.run(scenario())
    assert child._process.returncode == 0
