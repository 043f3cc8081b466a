"""`mailbridge serve` as a process: start, one log line per message, clean stop, clear failures."""

from __future__ import annotations

import re
import signal
import smtplib
import socket
import subprocess
import sys

import pytest
from serve_support import ServeProcess, free_port, message, write_config

CONFIG_FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "config"


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'state' / 'mb.sqlite3'}")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailbridge", *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_logs_each_message_and_stops_cleanly(config_path, signum):
    server = ServeProcess(config_path).start()
    try:
        with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test", timeout=15) as smtp:
            smtp.sendmail("klient@example.org", ["pomoc-dynamics@example.com"], message("Faktura"))
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail("klient@example.org", ["x@example.com"], message())
        wait_for_line(server, "stored as new ticket DYN-000001")
    finally:
        code = server.stop(signum)
    assert code == 0, server.lines
    log = "\n".join(server.lines)
    assert re.search(r"received \S+ from=<klient@example\.org> to=pomoc-dynamics@example\.com", log)
    assert "refused RCPT TO x@example.com" in log
    assert server.lines[-1].endswith("stopped")
    assert "Traceback" not in log


def test_bad_config_gives_the_check_config_report_and_exit_1():
    bad = CONFIG_FIXTURES / "several_problems.toml"
    served, checked = run_cli("serve", "--config", str(bad)), run_cli("check-config", "--config", str(bad))
    assert served.returncode == 1 and checked.returncode == 1
    assert served.stderr == checked.stderr and len(served.stderr.splitlines()) >= 2
    assert "Traceback" not in served.stderr


def test_a_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'mb.sqlite3'}",
                              listener=f"port = {port}")
        result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"mailbridge: cannot listen on 127.0.0.1:{port}: address already in use"]


def test_an_unusable_spool_folder_is_one_clear_line(tmp_path):
    config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'mb.sqlite3'}",
                          listener=f"port = {free_port()}")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "spool").write_text("a file where the spool folder belongs")
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"mailbridge: cannot use the spool folder {tmp_path / 'state' / 'spool'}: File exists; it must be a "
        "folder the service user can write (it lives in state_dir)"]


def test_an_unreachable_database_is_one_clear_line(tmp_path):
    config = write_config(tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
                          listener=f"port = {free_port()}")
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_log_level_option_is_checked():
    result = run_cli("serve", "--log-level", "loud", "--config", "/nonexistent.toml")
    assert result.returncode == 2


def wait_for_line(server: ServeProcess, text: str) -> None:
    from serve_support import wait_until

    wait_until(lambda: any(text in line for line in server.lines), what=f"log line {text!r}")
