"""The CLI a sysadmin trusts: --version, completion, read commands that never create a database,
`backup`, `check-config --connect`, `--json` where something is reported, and the systemd unit."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailbridge.cli import _register, app
from mailbridge.service import unit
from tests.serve_support import write_config
from tests.smtp_sink import Sink, free_port

_register()
MAILBRIDGE = Path(sys.executable).with_name("mailbridge")
REPOSITORY = Path(__file__).resolve().parent.parent

MINIMAL = """
[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
language = "es"
"""


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(MAILBRIDGE), *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def test_version():
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("mailbridge 0.")


def test_shell_completion_completes_commands_and_subcommands():
    env = {"_MAILBRIDGE_COMPLETE": "complete_bash", "COMP_WORDS": "mailbridge tickets l", "COMP_CWORD": "2"}
    assert run(env=env).stdout.split() == ["list"]
    # Without this typer ignores "bash" and asks shellingham for the shell of the process's
    # ancestors, which fails where there is none (a run started by nohup, reparented to init).
    shell_named = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    assert "_mailbridge_completion" in run("--show-completion", "bash", env=shell_named).stdout


@pytest.mark.parametrize("command", [
    ["tickets", "list"], ["tickets", "show", "SOP-000001"], ["quarantine", "list"], ["outbox", "list"],
    ["explain", "x@example.com"], ["tickets", "resolve", "SOP-000001"], ["backup", "copy.sqlite3"],
])
def test_commands_that_do_not_take_mail_in_never_create_a_database_and_say_where_they_looked(tmp_path, command):
    (tmp_path / "mailbridge.toml").write_text(MINIMAL, encoding="utf-8")
    done = run(*command, "--config", "mailbridge.toml", cwd=tmp_path)
    assert done.returncode == 1
    assert f"no mailbridge database at {tmp_path / 'state' / 'mailbridge.sqlite3'}" in done.stderr
    assert "from the default ./state of the current directory" in done.stderr and "--config" in done.stderr
    assert not (tmp_path / "state").exists()


def test_status_without_a_database_is_down(tmp_path):
    (tmp_path / "mailbridge.toml").write_text(MINIMAL, encoding="utf-8")
    done = run("status", "--config", "mailbridge.toml", cwd=tmp_path)
    assert done.returncode == 2 and "no mailbridge database" in done.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.postgres
def test_an_empty_postgresql_database_is_not_given_a_schema_by_a_read_command(tmp_path, postgres_empty_url):
    postgres_url = postgres_empty_url
    from sqlalchemy import create_engine, inspect

    config = write_config(tmp_path, database_url=postgres_url)
    done = run("tickets", "list", "--config", str(config))
    assert done.returncode == 1 and "holds no mailbridge data" in done.stderr
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert inspect(connection).get_table_names() == []
    finally:
        engine.dispose()


def test_backup_copies_a_live_database_and_checks_it(tmp_path):
    config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}")
    (tmp_path / "one.eml").write_bytes(b"From: k@firma.pl\nTo: soporte@example.com\nSubject: Hola\n"
                                       b"Message-ID: <b1@firma.pl>\n\nNo puedo entrar.\n")
    assert CliRunner().invoke(app, ["ingest", "--import", "-c", str(config), str(tmp_path / "one.eml")]).exit_code == 0
    result = CliRunner().invoke(app, ["backup", "-c", str(config), "--json", str(tmp_path / "copy.sqlite3")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["check"] == "ok" and report["bytes"] > 0
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    assert copy.execute("SELECT code FROM ticket").fetchall() == [("SOP-000001",)]
    copy.close()
    again = CliRunner().invoke(app, ["backup", "-c", str(config), str(tmp_path / "copy.sqlite3")])
    assert again.exit_code == 1 and "exists" in again.output
    assert not list(tmp_path.glob(".copy.sqlite3.partial"))


def test_backup_of_postgresql_points_at_pg_dump(tmp_path):
    config = write_config(tmp_path, database_url="postgresql+psycopg://u@127.0.0.1:1/db")
    result = CliRunner().invoke(app, ["backup", "-c", str(config), str(tmp_path / "copy")])
    assert result.exit_code == 1 and "pg_dump" in result.output


def test_check_config_connect_tries_the_database_and_the_relay(tmp_path):
    sink = Sink()
    sink.start()
    try:
        config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}",
                              listener=f'port = 0\n[outbox]\nrelay_host = "127.0.0.1"\nrelay_port = {sink.port}\n'
                                       'relay_tls = "none"')
        result = CliRunner().invoke(app, ["check-config", "--connect", "--json", "-c", str(config)])
    finally:
        sink.stop()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(c["target"], c["ok"]) for c in report["connect"]] == [("database", True), ("relay", True)]
    assert "does not exist yet" in report["connect"][0]["detail"]
    assert report["connect"][1]["detail"] == f"relay 127.0.0.1:{sink.port}: reachable (none)"


def test_check_config_connect_fails_when_the_relay_cannot_be_reached(tmp_path):
    port = free_port()
    config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}",
                          listener=f'port = 0\n[outbox]\nrelay_host = "127.0.0.1"\nrelay_port = {port}\n'
                                   'relay_tls = "none"')
    result = CliRunner().invoke(app, ["check-config", "--connect", "-c", str(config)])
    assert result.exit_code == 1
    assert f"relay: FAILED: relay 127.0.0.1:{port}: ConnectionRefusedError" in result.output


def test_check_config_json_lists_problems(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[queues]]\nname = \"Bad Name\"\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check-config", "--json", "-c", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and any("queues[0].name" in p for p in report["problems"])


def test_json_on_the_commands_that_report(tmp_path):
    config = write_config(tmp_path, database_url=f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}")
    upgraded = json.loads(CliRunner().invoke(app, ["db", "upgrade", "--json", "-c", str(config)]).stdout)
    assert upgraded["before"] is None and upgraded["changed"] is True
    assert json.loads(CliRunner().invoke(app, ["outbox", "send", "--json", "-c", str(config)]).stdout) == \
        {"sent": 0, "queued": 0}
    assert json.loads(CliRunner().invoke(app, ["outbox", "retry", "--all", "--json", "-c", str(config)]).stdout) == \
        {"queued_again": 0}
    assert json.loads(CliRunner().invoke(app, ["imap", "check", "--json", "-c", str(config)]).stdout) == []


def test_the_repository_unit_is_the_generated_one_for_the_documented_layout():
    assert (REPOSITORY / "systemd" / "mailbridge.service").read_text(encoding="utf-8") == unit.render()


def test_systemd_unit_runs_this_installations_mailbridge():
    result = CliRunner().invoke(app, ["systemd-unit", "--config", "/srv/mb/mailbridge.toml"])
    assert f"ExecStart={MAILBRIDGE} serve --config /srv/mb/mailbridge.toml\n" in result.stdout
    assert "Type=notify\n" in result.stdout and "LimitNOFILE=65536\n" in result.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None and not os.environ.get("CI"),
                    reason="systemd-analyze is not installed (apt-get install systemd)")
def test_the_generated_unit_passes_systemd_analyze_verify_and_security(tmp_path):
    path = tmp_path / "mailbridge.service"
    path.write_text(unit.render(MAILBRIDGE), encoding="utf-8")
    verify = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(path)], capture_output=True,
                              text=True, timeout=60)
    last = security.stdout.strip().splitlines()[-1]
    assert last.startswith("→ Overall exposure level for mailbridge.service:") and last.split()[-2] == "OK", last


def test_backup_is_consistent_while_another_process_writes(tmp_path, monkeypatch):
    """The online backup API copies a database that changes under it: the copy is whole and checks ok."""
    import threading

    from mailbridge.store import backup

    source = tmp_path / "live.sqlite3"
    writer = sqlite3.connect(source, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    writer.executemany("INSERT INTO t (body) VALUES (?)", [("ż" * 500,)] * 2000)
    writer.commit()
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            writer.execute("INSERT INTO t (body) VALUES (?)", ("ñ" * 500,))
            writer.commit()

    monkeypatch.setattr(backup, "PAGES_PER_STEP", 8)  # many small steps, so writes land in between
    thread = threading.Thread(target=write)
    thread.start()
    try:
        result = backup.backup_sqlite(source, tmp_path / "copy.sqlite3")
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert result.check == "ok"
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    assert copy.execute("SELECT count(*) FROM t").fetchone()[0] >= 2000
    copy.close()
