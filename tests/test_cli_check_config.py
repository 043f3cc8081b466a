"""`mailbridge check-config`: the summary, the problem lines, exit codes, and never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailbridge.cli import _register, app

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "config"
EXAMPLE = ROOT / "config" / "mailbridge.example.toml"
MAILBRIDGE = Path(sys.executable).with_name("mailbridge")

_register()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.delenv("MAILBRIDGE_CONFIG", raising=False)


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner(env=env).invoke(app, ["check-config", *args])


def test_example_config_summary(tmp_path: Path) -> None:
    result = invoke("--config", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"state dir: {tmp_path / 'state'} (will be created)" in out
    assert f"database: sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}" in out
    assert f"secret: generated on first use, kept in {tmp_path / 'state' / 'secret.key'}" in out
    assert "listener: smtp on 127.0.0.1:2525" in out
    assert "queues: 3" in out
    assert '  dynamics: DYN-000001, pl, "Pomoc Dynamics"' in out
    assert "    addresses: pomoc-dynamics@example.com, dynamics@example.com" in out
    assert '  soporte: SOP-000001, es, "Soporte"' in out
    assert "    agents: lucia.garcia@example.com, anna.kowalska@example.com" in out
    assert "catch-all: none (mail to any other address is refused)" in out
    # Checking writes nothing: the state directory appears only when mailbridge runs.
    assert not (tmp_path / "state").exists()


def test_database_password_is_masked() -> None:
    result = invoke("--config", str(FIXTURES / "postgres_with_password.toml"))
    assert result.exit_code == 0, result.output
    assert "database: postgresql+psycopg://mailbridge:***@db.example.com:5432/mailbridge" in result.stdout
    assert "s3cr3t" not in result.output
    assert "catch-all" in result.stdout


def test_problems_one_per_line_on_stderr_and_exit_1() -> None:
    result = invoke("--config", str(FIXTURES / "several_problems.toml"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "mailbridge.secret: is a placeholder; set a random value (e.g. `openssl rand -hex 32`)",
        "queues[0].address: not an email address: 'pomoc-dynamics@'",
        "queues[0].langauge: unknown key (did you mean 'language'?)",
        "queues[1].code_prefix: 'DYN' is already used by queues[0].code_prefix",
    ]


def test_config_from_the_environment_variable() -> None:
    result = invoke(env={"MAILBRIDGE_CONFIG": str(FIXTURES / "minimal.toml")})
    assert result.exit_code == 0, result.output
    assert f"config: {FIXTURES / 'minimal.toml'}" in result.stdout


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    result = invoke("--config", str(tmp_path / "absent.toml"))
    assert result.exit_code == 1
    assert result.stderr == f"{tmp_path / 'absent.toml'}: no such file\n"


def test_real_process_exits_1_without_a_traceback(tmp_path: Path) -> None:
    assert MAILBRIDGE.exists(), f"the console script is not installed at {MAILBRIDGE}"
    for config in ("several_problems.toml", "syntax_error_line_7.toml"):
        done = subprocess.run(
            [str(MAILBRIDGE), "check-config", "--config", str(FIXTURES / config)],
            capture_output=True, text=True, cwd=tmp_path, timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        assert done.stderr.strip(), "the problem lines are missing"
