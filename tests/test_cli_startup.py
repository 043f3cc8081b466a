"""A command imports what it uses: `parse` no database layer, `tickets list` no SQLAlchemy, `--help` no command.

Every start of the CLI paid for every command's imports (SQLAlchemy, alembic, the pipeline,
all 250 countries of `holidays`), most of a second before `mailbridge parse` read a byte
(issue 17). These tests fail when such an import comes back, whatever the machine's speed:
they look at what `python -X importtime` reports, never at the time it takes (that is
measured by `python -m bench.startup`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mailbridge.cli import COMMANDS

PROJECT = Path(__file__).resolve().parents[1]
THREADS_CONFIG = PROJECT / "tests" / "fixtures" / "threads" / "mailbridge.toml"
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)
# What a command that opens no database, sends no mail and computes no clock must not load.
DATABASE_LAYER = {"sqlalchemy", "sqlmodel", "alembic", "mako", "psycopg"}
MAIL_OUT_AND_CLOCKS = {"jinja2", "httpx", "holidays", "phonenumbers"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `python -X importtime -m mailbridge ARGS`; the result and every module it imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "mailbridge", *args], cwd=PROJECT,
                            capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120)
    return result, set(_IMPORTED.findall(result.stderr))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def ours(modules: set[str]) -> set[str]:
    return {name for name in modules if name.startswith("mailbridge.")}


def test_parse_imports_no_database_config_or_outgoing_code(tmp_path):
    mail = tmp_path / "mail.eml"
    mail.write_bytes(b"From: Ana <ana@example.com>\nSubject: printer\n\nThe printer is offline again.\n")
    result, modules = run_cli("parse", str(mail), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["subject"] == "printer"
    assert "mailbridge.parse" in modules  # the import list was read: the parser is in it
    assert top_level(modules) & (DATABASE_LAYER | MAIL_OUT_AND_CLOCKS) == set()
    assert {m for m in ours(modules) if m.startswith(("mailbridge.store", "mailbridge.config", "mailbridge.sla",
                                                       "mailbridge.pipeline", "mailbridge.outgoing"))} == set()
    # Its file names and flag are converted without pydantic (mailbridge.cli.coercion), and a
    # plain-text message needs no HTML renderer.
    assert top_level(modules) & {"pydantic", "inscriptis", "lxml"} == set()


@pytest.mark.parametrize("options", [[], ["--json"], ["--queue", "dynamics", "--status", "open"],
                                     ["--overdue", "--now", "2026-11-23T11:00:00+01:00", "--queue", "soporte"]])
def test_tickets_list_reads_the_database_without_sqlalchemy(database, tmp_path, options):
    env = {"MAILBRIDGE_TEST_DATABASE_URL": database.url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}
    result, modules = run_cli("tickets", "list", *options, "--config", str(THREADS_CONFIG), env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() in ("no tickets", "[]")
    assert "mailbridge.store.listing" in modules  # it did read the database
    # Read through the driver (sqlite3, psycopg): no SQLAlchemy, tables or alembic; listing needs
    # neither outgoing mail, clocks nor the parser.
    assert top_level(modules) & ({"sqlalchemy", "sqlmodel", "alembic", "mako"} | MAIL_OUT_AND_CLOCKS) == set()
    assert {"mailbridge.parse", "mailbridge.pipeline", "mailbridge.status", "mailbridge.sla.clocks",
            "mailbridge.store.db", "mailbridge.store.models"} & modules == set()
    # Its options are converted without typer's pydantic adapters (mailbridge.cli.coercion), and
    # its plain config file is read without the config's models (mailbridge.config.plain).
    assert "typer._adapters" not in modules
    assert "mailbridge.config.plain" in modules
    assert "pydantic" not in top_level(modules)
    assert {m for m in ours(modules) if m.startswith("mailbridge.config.")} <= {
        "mailbridge.config.plain", "mailbridge.config.source", "mailbridge.config.problems",
        "mailbridge.config.checks", "mailbridge.config.state", "mailbridge.config.names"}


def test_tickets_list_of_a_config_that_is_not_plain_loads_it_in_full_and_names_its_problems(tmp_path):
    config = tmp_path / "mailbridge.toml"
    config.write_text('[[queues]]\nname = "Dynamics"\naddress = "pomoc-dynamics@example.com"\n'
                      'code_prefix = "DYN"\n[unknown]\n', encoding="utf-8")
    result, modules = run_cli("tickets", "list", "--config", str(config))
    assert result.returncode == 1
    said = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert said == ["queues[0].name: must be lowercase letters, digits and '-' (e.g. dynamics): 'Dynamics'",
                    "unknown: unknown key"], said
    assert "mailbridge.config.models" in modules


def test_tickets_list_of_a_missing_database_takes_the_full_path_and_says_so(tmp_path):
    env = {"MAILBRIDGE_TEST_DATABASE_URL": f"sqlite:///{tmp_path / 'none.sqlite3'}",
           "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}
    result, modules = run_cli("tickets", "list", "--config", str(THREADS_CONFIG), env=env)
    assert result.returncode == 1
    said = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert len(said) == 1 and said[0].startswith("mailbridge: no mailbridge database at "), said
    assert "mailbridge.store.db" in modules and "alembic" not in top_level(modules)


def test_help_lists_every_command_without_importing_one():
    result, modules = run_cli("--help", env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr[-2000:]
    for name, entry in COMMANDS.items():
        assert any(name in line and entry.summary.replace("`", "") in line for line in result.stdout.splitlines()), name
    # The group's own helpers (plain values' converter, the paused collector) are no command.
    assert ours(modules) == {"mailbridge.cli", "mailbridge.cli.lazy", "mailbridge.cli.coercion",
                             "mailbridge.cli.startup_gc"}
    assert top_level(modules) & (DATABASE_LAYER | MAIL_OUT_AND_CLOCKS) == set()


def test_a_mistyped_command_is_told_the_name_it_may_mean():
    result, _ = run_cli("tickts")
    assert result.returncode == 2
    assert "No such command 'tickts'. Did you mean 'tickets'?" in result.stderr


def test_a_calendar_with_a_country_loads_no_country_and_no_database_layer(tmp_path):
    # The holidays library loads all its countries' rules as soon as one is needed: a country is
    # checked against its list of codes instead. No database URL is set, so no SQLAlchemy either.
    config = tmp_path / "mailbridge.toml"
    config.write_text('[[queues]]\nname = "dynamics"\naddress = "pomoc-dynamics@example.com"\n'
                      'code_prefix = "DYN"\ncalendar = "pl"\n'
                      '[calendars.pl]\nzone = "Europe/Warsaw"\ncountry = "PL"\n', encoding="utf-8")
    script = ("import sys; from mailbridge.config import load_config; "
              f"load_config({str(config)!r}, env={{}}); "
              "print(sorted(m for m in sys.modules if m.startswith(('holidays.countries', 'sqlalchemy'))))")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["tickets_cmd", "parse_cmd"])
def test_the_timed_commands_annotations_are_not_strings(module):
    # typer reads each parameter's annotation twice (`inspect.signature(eval_str=True)` and
    # `get_type_hints`): as strings, under `from __future__ import annotations`, each is compiled
    # and evaluated both times, about 3 % of `tickets list` (issue 17).
    source = (PROJECT / "mailbridge" / "cli" / f"{module}.py").read_text(encoding="utf-8")
    assert "from __future__ import annotations" not in source
