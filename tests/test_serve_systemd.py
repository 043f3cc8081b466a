"""A real `mailbridge serve` under a stand-in systemd: notify socket, watchdog, status and metrics.

The test plays systemd's part: it binds the datagram socket named by $NOTIFY_SOCKET, sets
$WATCHDOG_USEC, starts `mailbridge serve` as a process and reads what it says. Mail flows
through the listener while `mailbridge status --json` and /metrics are checked against it; then
the processing worker is stopped (SIGSTOP) and the watchdog pings must stop, and resume when it
continues; SIGTERM brings STOPPING=1 and a status of "down".
"""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serve_support import message, wait_until, write_config

MAILBRIDGE = [sys.executable, "-m", "mailbridge"]
REPOSITORY = Path(__file__).resolve().parent.parent
WATCHDOG_SECONDS = 2.0


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: every datagram, with the time it came."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify.sock"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.path))
        self.socket.settimeout(0.2)
        self.seen: list[tuple[float, dict[str, str]]] = []

    def read(self, seconds: float) -> list[dict[str, str]]:
        """Datagrams received within `seconds`."""
        got = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.socket.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.seen.append((time.monotonic(), fields))
            got.append(fields)
        return got

    def wait_for(self, key: str, timeout: float = 60) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for fields in self.read(0.2):
                if key in fields:
                    return fields
        raise AssertionError(f"no {key} from serve within {timeout} s")


def _status(config: Path) -> tuple[int, dict]:
    done = subprocess.run([*MAILBRIDGE, "status", "--json", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _worker(pid: int) -> int | None:
    """serve's processing worker (its other child is the sender)."""
    for child in _children(pid):
        try:
            if b"worker_process" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


@pytest.fixture
def daemon(tmp_path):
    systemd = FakeSystemd(tmp_path)
    config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}",
                          listener='port = 0\n[metrics]\nlisten = "127.0.0.1:0"')
    env = {**os.environ, "NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1e6))}
    env.pop("WATCHDOG_PID", None)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed after the process
    process = subprocess.Popen([*MAILBRIDGE, "serve", "--config", str(config)], env=env, stderr=log)
    try:
        yield process, systemd, config, tmp_path
    finally:
        log.close()
        if process.poll() is None:
            for child in _children(process.pid):
                os.kill(child, signal.SIGCONT)
            process.terminate()
            process.wait(60)
        systemd.socket.close()


def test_serve_speaks_sd_notify_and_reports_status_and_metrics_while_mail_flows(daemon):
    process, systemd, config, directory = daemon
    ready = systemd.wait_for("READY")
    assert ready["READY"] == "1" and ready["MAINPID"] == str(process.pid)
    port = int(re.search(r":(\d+)", ready["STATUS"]).group(1))
    assert "WATCHDOG" in systemd.wait_for("WATCHDOG", timeout=WATCHDOG_SECONDS * 2)

    for number in range(3):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"],
                          message(f"Zgłoszenie {number}", sender=f"klient{number}@example.org"))

    def processed() -> bool:
        code, status = _status(config)
        return code == 0 and status["database"]["pending_messages"] == 0 and status["database"]["outbox"]["sent"] >= 3

    try:
        wait_until(processed, timeout=60, what="mail processed and a healthy status", interval=1)
    except AssertionError:
        print(_status(config), (directory / "serve.log").read_text())
        raise
    code, status = _status(config)
    assert status["state"] == "healthy" and status["exit_code"] == 0
    (instance,) = status["instances"]
    assert instance["pid"] == process.pid and instance["state"] == "running"
    assert instance["listener"] == {"protocol": "smtp", "address": f"127.0.0.1:{port}", "state": "listening"}
    assert instance["worker"]["alive"] is True and instance["spool_backlog"] == 0
    assert instance["sender"]["alive"] is True and instance["sender"]["pid"] in _children(process.pid)

    metrics = httpx.get(f"http://{instance['metrics']}/metrics", timeout=10).text
    assert 'mailbridge_messages_received_total{source="smtp"} 3.0' in metrics
    assert 'mailbridge_messages_processed_total{outcome="created",source="smtp"} 3.0' in metrics
    assert 'mailbridge_processing_seconds_count{source="smtp"} 3.0' in metrics
    assert "mailbridge_worker_up 1.0" in metrics and "mailbridge_sender_up 1.0" in metrics
    assert re.search(r'mailbridge_build_info\{python="[\d.]+",version="[\w.]+"\} 1.0', metrics)
    # Every metric docs/operations.md names (its table and its alerts) is served.
    documented = set(re.findall(r"mailbridge_[a-z_]+", (REPOSITORY / "docs" / "operations.md").read_text()))
    assert documented and {name for name in documented if f"# TYPE {name}" not in metrics
                           and f"# TYPE {name.removesuffix('_total')}" not in metrics} == set()

    # The worker stops answering: the watchdog pings stop within 3 pulses (0.75 watchdog periods).
    worker = _worker(process.pid)
    os.kill(worker, signal.SIGSTOP)
    systemd.read(WATCHDOG_SECONDS)
    assert [f for f in systemd.read(WATCHDOG_SECONDS * 1.5) if "WATCHDOG" in f] == []
    wait_until(lambda: _status(config)[0] == 1, timeout=30, what="a degraded status", interval=1)
    code, status = _status(config)
    assert any("processing worker is not running" in p for p in status["problems"]), status["problems"]
    os.kill(worker, signal.SIGCONT)
    systemd.wait_for("WATCHDOG", timeout=WATCHDOG_SECONDS * 3)

    process.send_signal(signal.SIGTERM)
    assert systemd.wait_for("STOPPING")["STOPPING"] == "1"
    assert process.wait(60) == 0
    code, status = _status(config)
    assert code == 2 and status["state"] == "down" and status["instances"][0]["state"] == "stopped"


def test_a_worker_that_dies_is_restarted_and_pings_resume(daemon):
    process, systemd, config, directory = daemon
    systemd.wait_for("READY")
    worker = _worker(process.pid)
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: _worker(process.pid) not in (None, worker), timeout=30, what="a new worker", interval=0.2)
    systemd.read(0.5)
    assert systemd.wait_for("WATCHDOG", timeout=WATCHDOG_SECONDS * 3)
