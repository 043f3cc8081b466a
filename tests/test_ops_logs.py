"""Log lines: syslog priorities under journald, JSON for pipelines, reply tokens and secrets masked."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from mailbridge import logs

SCRIPT = """
import logging, sys
from mailbridge.logs import configure_logging, redact
chosen = configure_logging("info", sys.argv[1] if len(sys.argv) > 1 else None)
redact("hunter2-relay-password")
log = logging.getLogger("mailbridge.test")
log.info("received mail to pomoc+123abcdefghij2@example.com")
log.warning("relay login with hunter2-relay-password refused")
log.error("two\\nlines")
print(chosen)
"""


def _run(*args: str, journal: bool = False) -> tuple[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    command = [sys.executable, "-c", SCRIPT, *args]
    if journal:
        # journald's stream is identified by the device and inode of stderr: give it ours.
        command = ["sh", "-c", 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"', "sh", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True)
    return done.stdout.strip(), done.stderr.splitlines()


def test_under_journald_each_line_starts_with_its_syslog_priority():
    chosen, lines = _run(journal=True)
    assert chosen == "journal"
    assert lines[0].startswith("<6>mailbridge.test: received mail")
    assert lines[1].startswith("<4>") and lines[2] == "<3>mailbridge.test: two | lines"


def test_outside_journald_lines_have_a_time_and_a_level():
    chosen, lines = _run()
    assert chosen == "text"
    assert " INFO mailbridge.test: received mail" in lines[0]


def test_json_lines_for_pipelines():
    chosen, lines = _run("json")
    entries = [json.loads(line) for line in lines]
    assert [e["level"] for e in entries] == ["info", "warning", "error"]
    assert entries[2]["message"] == "two\nlines" and entries[0]["logger"] == "mailbridge.test"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_reply_tokens_and_registered_secrets_never_reach_a_line(log_format):
    _, lines = _run(log_format)
    text = "\n".join(lines)
    assert "123abcdefghij2" not in text and "pomoc+***@example.com" in text
    assert "hunter2-relay-password" not in text and "relay login with *** refused" in text


def test_a_journal_stream_that_is_not_our_stderr_is_not_journald(monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert logs.default_format() == "text"


def test_serve_logs_json_from_each_of_its_processes(tmp_path):
    """`serve --log-format json`: the listener's lines, the processing worker's and the sender's are JSON objects."""
    import signal
    import time

    from tests.serve_support import write_config

    config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}")
    log = tmp_path / "serve.log"
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "mailbridge", "serve", "--log-format", "json",
                                    "--config", str(config)], stderr=stderr)
        try:
            deadline = time.monotonic() + 60
            while not all(started in log.read_text(encoding="utf-8")
                          for started in ("processing worker started", "sender started")):
                assert time.monotonic() < deadline, log.read_text(encoding="utf-8")
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    loggers = {entry["logger"] for entry in entries}
    assert {"mailbridge.service.daemon", "mailbridge.service.worker_process",
            "mailbridge.service.sender_process"} <= loggers
    assert len({entry["pid"] for entry in entries}) == 3 and process.returncode == 0
