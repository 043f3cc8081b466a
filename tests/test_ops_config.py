"""Secrets from files and systemd credentials, needed only by commands that log in; `[metrics]` and `[import]`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbridge.config import load_config
from mailbridge.config.load import UNRESOLVED
from mailbridge.errors import ConfigError

BASE = """
[mailbridge]
state_dir = "{state}"

[[queues]]
name = "soporte"
address = "soporte@example.com"
code_prefix = "SOP"
language = "es"

[[imap]]
name = "buzon"
host = "imap.example.com"
user = "soporte@example.com"
password = "{password}"

[outbox]
relay_host = "smtp.example.com"
relay_user = "soporte@example.com"
relay_password = "{relay}"
"""


def _config(tmp_path: Path, password: str, relay: str = "plain-relay-secret", **sections: str) -> Path:
    path = tmp_path / "mailbridge.toml"
    extra = "".join(f"\n[{name}]\n{body}\n" for name, body in sections.items())
    path.write_text(BASE.format(state=tmp_path / "state", password=password, relay=relay) + extra, encoding="utf-8")
    return path


def test_a_password_from_a_file_drops_one_trailing_newline(tmp_path):
    (tmp_path / "imap-password").write_text("zażółć gęślą\n", encoding="utf-8")
    config = load_config(_config(tmp_path, "file:imap-password"), env={})
    assert config.imap[0].password == "zażółć gęślą"


def test_a_password_from_a_systemd_credential(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "relay-password").write_text("contraseña-del-relé", encoding="utf-8")
    config = load_config(_config(tmp_path, "x", relay="credential:relay-password"),
                         env={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.outbox.relay_password == "contraseña-del-relé"


@pytest.mark.parametrize(("reference", "env", "problem"), [
    ("env:IMAP_PASSWORD", {}, "imap[0].password: environment variable IMAP_PASSWORD is not set"),
    ("file:/nonexistent/imap-password", {}, "imap[0].password: cannot read /nonexistent/imap-password: "
                                            "No such file or directory"),
    ("credential:imap", {}, "imap[0].password: credential imap is not available: $CREDENTIALS_DIRECTORY is not set"),
    ("credential:../etc/passwd", {"CREDENTIALS_DIRECTORY": "/run"}, "'../etc/passwd' is not a credential name"),
])
def test_a_secret_that_cannot_be_read_is_a_problem_for_commands_that_log_in(tmp_path, reference, env, problem):
    path = _config(tmp_path, reference)
    with pytest.raises(ConfigError) as raised:
        load_config(path, env=env)
    assert any(problem in line for line in raised.value.problems), raised.value.problems
    # ... and not for the others, which get a stand-in they never use.
    config = load_config(path, env=env, need_secrets=False)
    assert config.imap[0].password == UNRESOLVED


def test_a_database_url_that_cannot_be_read_is_a_problem_for_every_command(tmp_path):
    path = _config(tmp_path, "x", database='url = "env:MAILBRIDGE_DB"')
    with pytest.raises(ConfigError, match="database.url: environment variable MAILBRIDGE_DB is not set"):
        load_config(path, env={}, need_secrets=False)


def test_metrics_are_off_by_default_and_take_host_and_port(tmp_path):
    assert load_config(_config(tmp_path, "x"), env={}).metrics.address is None
    config = load_config(_config(tmp_path, "x", metrics='listen = "[::1]:9464"'), env={})
    assert config.metrics.address == ("::1", 9464)
    with pytest.raises(ConfigError, match="metrics.listen: .*must be HOST:PORT"):
        load_config(_config(tmp_path, "x", metrics='listen = "9464"'), env={})


def test_import_settings(tmp_path):
    config = load_config(_config(tmp_path, "x", **{"import": 'close_after_days = 30\nstatus = "resolved"'}), env={})
    assert (config.import_.close_after_days, config.import_.status) == (30, "resolved")
    with pytest.raises(ConfigError, match="import.status"):
        load_config(_config(tmp_path, "x", **{"import": 'status = "deleted"'}), env={})
