"""`mailbridge.config.plain` answers what `load_config` answers, or None; it reads the plain case itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbridge.config import ConfigError, load_config
from mailbridge.config import plain
from mailbridge.config.plain import PlainConfig, PlainQueue, load_plain

PROJECT = Path(__file__).resolve().parents[1]
THREADS_CONFIG = PROJECT / "tests" / "fixtures" / "threads" / "mailbridge.toml"

BASE = {
    "mailbridge": {"state_dir": "state", "secret": "b3nch-5ecret-7f2a9c4e1d8b6053"},
    "listener": {"port": 0, "hostname": "bench.example.com"},
    "queues": [
        {"name": "dynamics", "address": "pomoc-dynamics@example.com", "code_prefix": "DYN", "language": "pl",
         "agents": ["anna.kowalska@example.com"]},
        {"name": "soporte", "address": "soporte@example.com", "code_prefix": "SOP", "language": "es"},
    ],
}

# (table, key, value, whether the plain reader must take the file itself). `queues` changes the
# first queue. Values that fail are never taken: the full load names them.
CHANGES = [
    ("mailbridge", "secret", "changeme-changeme-123", False),
    ("mailbridge", "secret", "short", False),
    ("mailbridge", "secret", 12345678901234567, False),
    ("mailbridge", "secret", "", True),
    ("mailbridge", "secret", "env:MB_PLAIN_SECRET", True),
    ("mailbridge", "secret", "env:MB_PLAIN_UNSET", False),
    ("mailbridge", "domain", "Mail.Example.COM", True),
    ("mailbridge", "domain", "not a domain", False),
    ("mailbridge", "state_dir", "/var/lib/mailbridge", True),
    ("mailbridge", "state_dir", 5, False),
    ("mailbridge", "unknown", "x", False),
    ("database", "url", "sqlite:////tmp/plain.sqlite3", True),
    ("database", "url", "postgres://mb:pw@db.example.com:5432/mailbridge", True),
    ("database", "url", "mysql://mb@db/mailbridge", False),
    ("database", "url", "sqlite:///x.db?mode=ro", True),
    ("threading", "reopen_window_days", 0, True),
    ("threading", "reopen_window_days", -1, False),
    ("threading", "reopen_window_days", True, False),
    ("listener", "port", 70000, False),
    ("listener", "port", True, False),
    ("listener", "port", "25", False),
    ("listener", "protocol", "lmtp", True),
    ("listener", "protocol", "http", False),
    ("listener", "require_tls", True, False),
    ("listener", "require_tls", False, True),
    ("listener", "auth_require_tls", False, True),
    ("listener", "max_message_size", 1023, False),
    ("listener", "max_recipients", 1001, False),
    ("listener", "max_connections", 1, False),
    ("listener", "idle_seconds", 3600, True),
    ("listener", "untrusted_idle_seconds", 0, False),
    ("listener", "log_level", "debug", True),
    ("listener", "log_level", "verbose", False),
    ("listener", "tls_cert", "/nonexistent.pem", False),
    ("listener", "trusted_networks", ["10.0.0.0/8"], False),
    ("queues", "name", "Dynamics", False),
    ("queues", "name", "soporte", False),
    ("queues", "address", "support+x@example.com", False),
    ("queues", "address", "soporte@example.com", False),
    ("queues", "address", "no-at-sign", False),
    ("queues", "aliases", ["dyn@example.com"], True),
    ("queues", "aliases", ["soporte@example.com"], False),
    ("queues", "aliases", "dyn@example.com", False),
    ("queues", "code_prefix", "dyn", False),
    ("queues", "code_prefix", "SOP", False),
    ("queues", "language", "de", False),
    ("queues", "languages", ["es", "en"], True),
    ("queues", "languages", ["de"], False),
    ("queues", "agents", ["not-an-address"], False),
    ("queues", "agents", [], True),
    ("queues", "catch_all", "yes", False),
    ("queues", "catch_all", True, True),
    ("queues", "time_zone", "Europe/Warsaw", True),
    ("queues", "time_zone", "Mars/Olympus", False),
    ("queues", "relay_display_name", "{agent} at {queue}", True),
    ("queues", "relay_display_name", "{someone}", False),
    ("queues", "default_priority", "critical", True),
    ("queues", "default_priority", "high", False),
    ("queues", "default_type", "petition", True),
    ("queues", "default_type", "bug", False),
    ("queues", "display_name", "Pomoc", True),
    ("queues", "calendar", "pl", False),
    ("queues", "unknown", "x", False),
    ("imap", None, [{"name": "box"}], False),
    ("sla", None, {}, False),
]


def toml(data: dict) -> str:
    """The few shapes these tests write, as TOML (JSON's strings, lists and numbers are TOML's)."""
    def value(item: object) -> str:
        return ("true" if item else "false") if isinstance(item, bool) else json.dumps(item)

    lines = []
    for name, table in data.items():
        if isinstance(table, list) and all(isinstance(t, dict) for t in table):
            for entry in table:
                lines += [f"[[{name}]]", *(f"{k} = {value(v)}" for k, v in entry.items())]
        elif isinstance(table, dict):
            lines += [f"[{name}]", *(f"{k} = {value(v)}" for k, v in table.items())]
        else:
            lines.insert(0, f"{name} = {value(table)}")
    return "\n".join(lines) + "\n"


def changed(table: str, key: str | None, value: object) -> dict:
    data = json.loads(json.dumps(BASE))
    if key is None:
        data[table] = value
    elif table == "queues":
        data["queues"][0][key] = value
    else:
        data.setdefault(table, {})[key] = value
    return data


def both(path: Path, env: dict[str, str]) -> tuple[PlainConfig | None, PlainConfig | None]:
    """The plain reader's answer, and the full load's in the same shape (None for a ConfigError)."""
    taken = load_plain(path, env=env)
    try:
        config = load_config(path, env=env, need_secrets=False)
    except ConfigError:
        return taken, None
    full = PlainConfig(config.source, config.state_dir, config.database_url,
                       tuple(PlainQueue(q.name) for q in config.queues))
    return taken, full


ENV = {"MB_PLAIN_SECRET": "a-random-value-0f3c9a7d2b"}


def test_the_plain_file_is_read_without_the_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mailbridge.toml"
    path.write_text(toml(BASE), encoding="utf-8")
    taken, full = both(path, ENV)
    assert taken is not None and taken == full
    assert taken.database_url == f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}"
    assert taken.queue("soporte") == PlainQueue("soporte") and taken.queue("nope") is None


@pytest.mark.parametrize(("table", "key", "value", "plain_case"), CHANGES)
def test_a_changed_file_gets_the_full_answer_or_none(tmp_path, monkeypatch, table, key, value, plain_case):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mailbridge.toml"
    path.write_text(toml(changed(table, key, value)), encoding="utf-8")
    taken, full = both(path, ENV)
    if plain_case:
        assert full is not None and taken == full
    else:
        assert taken is None
    # Whatever the case, the reader never takes a file the full load refuses.
    assert taken is None or taken == full


def test_the_threads_fixture_with_its_environment_is_the_plain_case(tmp_path):
    env = {"MAILBRIDGE_TEST_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}
    taken, full = both(THREADS_CONFIG, env)
    assert taken is not None and taken == full
    assert load_plain(THREADS_CONFIG, env={}) is None  # unset variables: the full load names them


@pytest.mark.parametrize("path", sorted((PROJECT / "config").glob("*.toml")) + [PROJECT / "absent.toml"])
def test_shipped_files_get_the_full_answer_or_none(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    taken, full = both(path, {})
    assert taken is None or taken == full


def test_every_key_read_is_a_field_of_its_model():
    from mailbridge.config.listener import ListenerSection
    from mailbridge.config.models import DatabaseSection, MailbridgeSection, QueueConfig, ThreadingSection

    models = {"mailbridge": MailbridgeSection, "database": DatabaseSection, "threading": ThreadingSection,
              "listener": ListenerSection}
    assert set(plain.TABLES) == set(models)
    for name, fields in plain.TABLES.items():
        assert set(fields) <= set(models[name].model_fields), name
    assert set(plain._QUEUE) <= set(QueueConfig.model_fields)
    assert {name for name, field in QueueConfig.model_fields.items() if field.is_required()} == set(
        plain._QUEUE_REQUIRED)
