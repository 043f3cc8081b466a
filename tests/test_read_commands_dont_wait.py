"""The commands that only read answer while a writer holds its transaction open (SQLite).

A `serve` worker hung or SIGSTOPped inside its transaction holds this database's write turn and
SQLite's write lock until it is killed. Commands that only look (`status`, the listings, `show`,
`explain`) read through `Database.reader` and must not wait for it; each runs here in its own
process with a timeout, so a command that waits fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from serve_support import write_transaction_held
from typer.testing import CliRunner

from mailbridge.cli import _register, app
from mailbridge.store.db import open_database

THREADS = Path(__file__).resolve().parent / "fixtures" / "threads"
CONFIG = THREADS / "mailbridge.toml"
# Well under SQLite's busy timeout (30 s), which a command waiting for the write lock would sit out.
ANSWER_WITHIN_S = 20

_register()


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """Tickets, outgoing mail and a quarantined message, then a writer holding its transaction open."""
    root = tmp_path_factory.mktemp("held")
    url = f"sqlite:///{root / 'mailbridge.sqlite3'}"
    env = {"MAILBRIDGE_TEST_DATABASE_URL": url, "MAILBRIDGE_TEST_STATE_DIR": str(root / "state")}
    names = ["original_dynamics_pl", "gmail_reply_with_references", "to_unknown_address"]
    # Exit 1: the last message is quarantined (no queue for its address), as wanted.
    ingested = CliRunner(env=env).invoke(app, ["ingest", *(str(THREADS / f"{n}.eml") for n in names),
                                               "--config", str(CONFIG)])
    assert ingested.exit_code == 1, ingested.output
    listed = CliRunner(env=env).invoke(app, ["quarantine", "list", "--json", "--config", str(CONFIG)])
    [entry] = json.loads(listed.stdout)
    writer = open_database(url)
    try:
        with write_transaction_held(writer, "UPDATE ticket SET subject = subject"):
            _assert_write_locked(root / "mailbridge.sqlite3")
            yield {"env": env, "quarantine": str(entry["id"])}
    finally:
        writer.dispose()


def _assert_write_locked(path: Path) -> None:
    """The holder does hold SQLite's write lock: another writer is refused at once."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.close()


# (command, exit status): `status` finds no running instance (exit 2), but reads the database.
# `tickets list` reads through `mailbridge.store.listing` (its own SQLite connection) first.
READ_COMMANDS = [
    pytest.param(["status"], 2, id="status"),
    pytest.param(["tickets", "list"], 0, id="tickets-list"),
    pytest.param(["tickets", "list", "--overdue"], 0, id="tickets-list-overdue"),
    pytest.param(["tickets", "show", "DYN-000001"], 0, id="tickets-show"),
    pytest.param(["explain", "<CAGmail-reply-2@mail.gmail.com>"], 0, id="explain"),
    pytest.param(["outbox", "list"], 0, id="outbox-list"),
    pytest.param(["quarantine", "list"], 0, id="quarantine-list"),
    pytest.param(["quarantine", "show", "{quarantine}"], 0, id="quarantine-show"),
    pytest.param(["escalations", "list", "--ticket", "DYN-000001"], 0, id="escalations-list"),
    pytest.param(["check-config", "--connect"], 0, id="check-config-connect"),
]


@pytest.mark.parametrize(("args", "status"), READ_COMMANDS)
def test_a_read_command_answers_while_a_writer_holds_its_transaction(held, args, status):
    command = [a.format(quarantine=held["quarantine"]) for a in args]
    try:
        result = subprocess.run([sys.executable, "-m", "mailbridge", *command, "--config", str(CONFIG)],
                                env={**os.environ, **held["env"]}, capture_output=True, text=True,
                                timeout=ANSWER_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`mailbridge {' '.join(command)}` waited for the writer for {ANSWER_WITHIN_S} s")
    assert result.returncode == status, result.stderr
    assert "locked" not in result.stderr
