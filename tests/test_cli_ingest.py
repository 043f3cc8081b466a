"""`mailbridge ingest`: files, mbox and Maildir in; summary, --json, --dry-run, exit codes."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from mailbridge.cli import _register, app
from mailbridge.store.models import Message, Quarantine, RawMessage, Ticket

THREADS = Path(__file__).resolve().parent / "fixtures" / "threads"
CONFIG = THREADS / "mailbridge.toml"
MAILBRIDGE = Path(sys.executable).with_name("mailbridge")

_register()


@pytest.fixture
def env(database, tmp_path):
    return {"MAILBRIDGE_TEST_DATABASE_URL": database.url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}


def ingest(env, *args: str):
    return CliRunner(env=env).invoke(app, ["ingest", "--config", str(CONFIG), *args])


def fixture(name: str) -> str:
    return str(THREADS / f"{name}.eml")


def counts(database) -> dict[str, int]:
    with database.session() as session:
        return {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in (RawMessage, Ticket, Message, Quarantine)
        }


def test_ingest_files_prints_the_summary(env, database):
    result = ingest(env, fixture("original_dynamics_pl"), fixture("gmail_reply_with_references"))
    assert result.exit_code == 0, result.output
    assert "2 message(s): created 1, threaded 1, duplicates 0, dropped 0, quarantined 0" in result.stdout
    assert counts(database)["Ticket"] == 1


def test_ingest_json_names_queue_ticket_and_rule_per_message(env):
    result = ingest(env, "--json", fixture("original_dynamics_pl"), fixture("outlook_reply_without_references"))
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert (first["queue"], first["ticket"], first["ticket_is_new"], first["rule"]) == ("dynamics", "DYN-000001", True, "new")
    assert (second["ticket"], second["ticket_is_new"], second["rule"]) == ("DYN-000001", False, "subject-code")
    assert second["route_rule"] == "to-header"
    assert second["source"].endswith("outlook_reply_without_references.eml")
    assert "created 1, threaded 1" in result.stderr


def test_dry_run_writes_nothing_and_says_so(env, database):
    result = ingest(env, "--dry-run", "--json", fixture("original_dynamics_pl"), fixture("original_soporte_es"))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["ticket"] for line in result.stdout.splitlines()] == ["DYN-000001", "SOP-000001"]
    assert "dry run, nothing written" in result.stderr
    assert set(counts(database).values()) == {0}


def test_dry_run_on_a_fresh_install_creates_no_state_at_all(tmp_path):
    config = tmp_path / "fresh.toml"
    config.write_text(
        f'[mailbridge]\nstate_dir = "{tmp_path / "state"}"\n'
        '[[queues]]\nname = "dynamics"\naddress = "pomoc-dynamics@example.com"\ncode_prefix = "DYN"\n'
    )
    result = CliRunner().invoke(app, ["ingest", "--config", str(config), "--dry-run", fixture("original_dynamics_pl")])
    assert result.exit_code == 0, result.output
    assert "created 1" in result.stdout
    assert not (tmp_path / "state").exists()


def test_a_quarantined_message_does_not_stop_the_batch_and_exits_1(env, database):
    result = ingest(env, fixture("to_unknown_address"), fixture("original_dynamics_pl"))
    assert result.exit_code == 1
    assert "created 1, threaded 0, duplicates 0, dropped 0, quarantined 1" in result.stdout
    assert "quarantined" in result.stderr and "stage route" in result.stderr
    assert counts(database)["Quarantine"] == 1


def test_mbox_and_maildir_are_read(env, tmp_path):
    mbox = tmp_path / "support.mbox"
    with mbox.open("wb") as handle:
        for name in ("original_dynamics_pl", "gmail_reply_with_references"):
            handle.write(b"From jan@klient.pl Tue Feb  3 09:12:00 2026\n" + (THREADS / f"{name}.eml").read_bytes() + b"\n")
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1700000000.1.host:2,S").write_bytes((THREADS / "reply_from_cc_participant.eml").read_bytes())
    result = ingest(env, "--json", str(mbox), str(maildir))
    assert result.exit_code == 0, result.output
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["outcome"] for o in outcomes] == ["created", "threaded", "threaded"]
    assert outcomes[0]["source"] == f"file:{mbox}#1"


def test_ingesting_the_same_files_twice_reports_duplicates(env, database):
    ingest(env, fixture("original_dynamics_pl"))
    result = ingest(env, fixture("original_dynamics_pl"))
    assert result.exit_code == 0
    assert "created 0, threaded 0, duplicates 1" in result.stdout
    assert counts(database)["Message"] == 1


def test_missing_path_is_a_usage_error_without_traceback(env):
    result = ingest(env, "/nonexistent/mail.eml")
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_bad_config_is_one_line_per_problem_and_exit_1(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[[queues]]\nname = "dynamics"\naddress = "not-an-address"\ncode_prefix = "DYN"\n')
    result = CliRunner().invoke(app, ["ingest", "--config", str(config), fixture("original_dynamics_pl")])
    assert result.exit_code == 1
    assert "queues[0].address" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.skipif(not MAILBRIDGE.exists(), reason="needs the installed `mailbridge` script next to python")
def test_real_process_exit_codes_and_no_tracebacks(env, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(MAILBRIDGE), *args], capture_output=True, text=True, timeout=120,
                              env={"PATH": "/usr/bin:/bin", **env}, check=False)

    ok = run("ingest", "--config", str(CONFIG), "--json", fixture("original_dynamics_pl"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ticket"] == "DYN-000001"
    missing = run("ingest", "--config", str(CONFIG), str(tmp_path / "missing.mbox"))
    unknown = run("tickets", "show", "--config", str(CONFIG), "DYN-999999")
    assert (missing.returncode, unknown.returncode) == (2, 1)
    assert unknown.stderr.strip() == "mailbridge: no ticket DYN-999999"
    for result in (ok, missing, unknown):
        assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.skipif(not MAILBRIDGE.exists(), reason="needs the installed `mailbridge` script next to python")
def test_progress_bar_is_shown_on_a_terminal_only(env, tmp_path):
    mbox = tmp_path / "support.mbox"
    mbox.write_bytes(b"From jan@klient.pl Tue Feb  3 09:12:00 2026\n" + (THREADS / "original_dynamics_pl.eml").read_bytes())
    args = [str(MAILBRIDGE), "ingest", "--config", str(CONFIG), str(mbox)]
    run_env = {"PATH": "/usr/bin:/bin", "TERM": "xterm", "COLUMNS": "100", **env}
    controller, terminal = pty.openpty()
    process = subprocess.Popen(args, stdin=terminal, stdout=terminal, stderr=terminal, env=run_env)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0
    assert b"ingesting" in output
    assert b"1 message(s): created 1, threaded 0" in output
    piped = subprocess.run(args, capture_output=True, env=run_env, timeout=60, check=False)
    assert b"ingesting" not in piped.stdout + piped.stderr
    assert b"1 message(s): created 0, threaded 0, duplicates 1" in piped.stdout


def test_dry_run_on_an_empty_database_does_not_create_the_schema(empty_database_url, tmp_path):
    from sqlalchemy import create_engine, inspect

    env = {"MAILBRIDGE_TEST_DATABASE_URL": empty_database_url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}
    result = ingest(env, "--dry-run", fixture("original_dynamics_pl"))
    assert result.exit_code == 0, result.output
    assert "created 1" in result.stdout
    engine = create_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            assert inspect(connection).get_table_names() == []
    finally:
        engine.dispose()


def test_an_outlook_msg_file_is_refused_with_how_to_convert_it_and_nothing_stored(env, database, tmp_path):
    path = tmp_path / "Solicitud.msg"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    result = ingest(env, str(path), fixture("original_dynamics_pl"))
    assert result.exit_code == 1
    assert "Outlook .msg file" in result.output and "msgconvert" in result.output
    assert counts(database)["RawMessage"] == 1 and counts(database)["Quarantine"] == 0
