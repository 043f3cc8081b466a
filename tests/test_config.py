"""Config loading: every problem line, env: values, state dir, secret file, config path order."""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from mailbridge.config import Config, ConfigError, QueueConfig, load_config, resolve_config_path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "config"
EXAMPLE = ROOT / "config" / "mailbridge.example.toml"

QUEUE = """
[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"
"""
QUEUE_2 = """
[[queues]]
name = "powerbi"
address = "pomoc-powerbi@example.com"
code_prefix = "PBI"
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Defaults depend on the working directory and on systemd's variable: pin both.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.delenv("MAILBRIDGE_CONFIG", raising=False)


def write(tmp_path: Path, text: str, name: str = "mailbridge.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return caught.value.problems


# --- the example and the fixtures -------------------------------------------------------------


def test_example_config_loads_as_is_on_embedded_defaults(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, env={})
    assert [q.name for q in config.queues] == ["dynamics", "powerbi", "soporte"]
    assert [q.language for q in config.queues] == ["pl", "pl", "es"]
    assert config.state_dir == tmp_path / "state"
    assert config.database_url == f"sqlite:///{tmp_path / 'state' / 'mailbridge.sqlite3'}"
    assert config.message_domain == "example.com"
    assert config.threading.reopen_window_days == 30
    assert config.catch_all is None
    assert config.source == EXAMPLE


def test_example_documents_every_key_with_its_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    defaults = Config(queues=[QueueConfig(name="x", address="x@example.com", code_prefix="XX")])
    for section in ("mailbridge", "database", "threading"):
        for key, value in getattr(defaults, section).model_dump().items():
            literal = f'"{value}"' if isinstance(value, str) else str(value).lower()
            assert f"{key} = {literal}" in text, f"[{section}] {key} not documented with its default"
    for key in QueueConfig.model_fields:
        assert f"#   {key}" in text, f"queue key {key} not documented"


def test_minimal_config_takes_defaults(tmp_path: Path) -> None:
    config = load_config(FIXTURES / "minimal.toml", env={})
    queue = config.queues[0]
    assert (queue.aliases, queue.agents, queue.catch_all, queue.display_name) == ((), (), False, "")
    assert queue.label == "dynamics"
    assert config.mailbridge.secret == ""


def test_queue_addresses_are_lowercased_and_agents_compare_case_insensitively() -> None:
    config = load_config(FIXTURES / "postgres_with_password.toml", env={})
    queue = config.queues[0]
    assert queue.addresses() == ("pomoc-powerbi@example.com",)
    assert config.message_domain == "example.com"
    assert config.catch_all == queue
    example = load_config(EXAMPLE, env={})
    assert example.queue("soporte").is_agent(" Lucia.Garcia@EXAMPLE.com ")
    assert not example.queue("powerbi").is_agent("lucia.garcia@example.com")


def test_international_addresses_are_accepted(tmp_path: Path) -> None:
    agents = 'agents = ["żaneta@przykład.pl", "jan@sklep.xn--p1ai", "Ana.Núñez@empresa.es"]\n'
    config = load_config(write(tmp_path, QUEUE + agents), env={})
    assert config.queues[0].is_agent("ana.núñez@empresa.es")


def test_short_postgresql_url_gets_the_psycopg_driver() -> None:
    config = load_config(FIXTURES / "postgres_with_password.toml", env={})
    assert config.database_url.startswith("postgresql+psycopg://mailbridge:")


# --- one line per problem ---------------------------------------------------------------------

PROBLEM_TABLE = [
    # (config text, expected line prefix)
    (QUEUE.replace("pomoc-dynamics@example.com", "pomoc-dynamics@"),
     "queues[0].address: not an email address"),
    (QUEUE.replace("pomoc-dynamics@example.com", "Pomoc <pomoc@example.com>"),
     "queues[0].address: not an email address"),
    (QUEUE.replace("pomoc-dynamics@example.com", "pomoc+dyn@example.com"),
     "queues[0].address: must not contain '+'"),
    (QUEUE + 'aliases = ["dynamics@example"]\n', "queues[0].aliases[0]: not an email address"),
    (QUEUE + 'aliases = ["dynamics@example.com\\n"]\n', "queues[0].aliases[0]: not an email address"),
    (QUEUE + 'agents = ["anna@example.com", "anna"]\n', "queues[0].agents[1]: not an email address"),
    (QUEUE.replace('"DYN"', '"dyn"'), "queues[0].code_prefix: must be 2-6 capital letters"),
    (QUEUE.replace('"DYN"', '"DYNAMICS"'), "queues[0].code_prefix: must be 2-6 capital letters"),
    (QUEUE.replace('"DYN"', '"D"'), "queues[0].code_prefix: must be 2-6 capital letters"),
    (QUEUE.replace('"dynamics"', '"Dynamics 365"'), "queues[0].name: must be lowercase letters"),
    (QUEUE + 'language = "de"\n', "queues[0].language: must be 'pl', 'es' or 'en'"),
    (QUEUE + 'agnets = []\n', "queues[0].agnets: unknown key (did you mean 'agents'?)"),
    (QUEUE + 'catch_all = "yes"\n', "queues[0].catch_all: must be true or false"),
    (QUEUE + 'aliases = "dynamics@example.com"\n', "queues[0].aliases: must be a list"),
    (QUEUE + "agents = [1]\n", "queues[0].agents[0]: must be a string"),
    (QUEUE.replace('name = "dynamics"\n', ""), "queues[0].name: required key is missing"),
    ("[listner]\nport = 25\n" + QUEUE, "listner: unknown key"),
    ("[mailbridge]\nsekret = 'x'\n" + QUEUE, "mailbridge.sekret: unknown key (did you mean 'secret'?)"),
    ("[mailbridge]\nsecret = 'change-me'\n" + QUEUE, "mailbridge.secret: is a placeholder"),
    ("[mailbridge]\nsecret = 'change-me-change-me-123'\n" + QUEUE, "mailbridge.secret: is a placeholder"),
    ("[mailbridge]\nsecret = 'secret'\n" + QUEUE, "mailbridge.secret: is a placeholder"),
    ("[mailbridge]\nsecret = 'aaaaaaaaaaaaaaaaaaaa'\n" + QUEUE, "mailbridge.secret: is not random"),
    ("[mailbridge]\nsecret = 'k7Qp2xW9'\n" + QUEUE, "mailbridge.secret: is too short"),
    ("[mailbridge]\nsecret = 42\n" + QUEUE, "mailbridge.secret: must be a string"),
    ("[mailbridge]\ndomain = 'not a domain'\n" + QUEUE, "mailbridge.domain: not a domain name"),
    ("mailbridge = 'x'\n" + QUEUE, "mailbridge: must be a table"),
    ("[database]\nurl = 'mysql://u@h/db'\n" + QUEUE, "database.url: unsupported database 'mysql'"),
    ("[database]\nurl = 'postgresql+psycopg2://u@h/db'\n" + QUEUE, "database.url: driver"),
    ("[database]\nurl = 'just words'\n" + QUEUE, "database.url: not a database URL"),
    ("[threading]\nreopen_window_days = '30'\n" + QUEUE, "threading.reopen_window_days: must be a whole number"),
    ("[threading]\nreopen_window_days = -1\n" + QUEUE, "threading.reopen_window_days: must be greater than or equal to 0"),
    ("[threading]\nreopen_window_days = true\n" + QUEUE, "threading.reopen_window_days: must be a whole number"),
    ("", "queues: at least one [[queues]] table is needed"),
    ("queues = []\n", "queues: at least one [[queues]] table is needed"),
    ("[queues]\nname = 'x'\n", "queues: must be a list"),
    (QUEUE + QUEUE_2.replace('"powerbi"', '"dynamics"'), "queues[1].name: 'dynamics' is already used by queues[0].name"),
    (QUEUE + QUEUE_2.replace('"PBI"', '"DYN"'), "queues[1].code_prefix: 'DYN' is already used by queues[0].code_prefix"),
    (QUEUE + QUEUE_2.replace("pomoc-powerbi@", "Pomoc-Dynamics@"),
     "queues[1].address: 'pomoc-dynamics@example.com' is already used by queues[0].address"),
    (QUEUE + QUEUE_2 + 'aliases = ["POMOC-dynamics@example.com"]\n',
     "queues[1].aliases[0]: 'pomoc-dynamics@example.com' is already used by queues[0].address"),
    (QUEUE + 'aliases = ["pomoc-dynamics@example.com"]\n',
     "queues[0].aliases[0]: 'pomoc-dynamics@example.com' is already used by queues[0].address"),
    (QUEUE + "catch_all = true\n" + QUEUE_2 + "catch_all = true\n",
     "queues[1].catch_all: only one queue may be the catch-all (queues[0] already is)"),
]


@pytest.mark.parametrize(("text", "expected"), PROBLEM_TABLE)
def test_each_problem_is_one_line_named_by_its_path(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write(tmp_path, text))
    assert len(found) == 1, found
    assert found[0].startswith(expected), found
    assert "\n" not in found[0]


def test_all_problems_are_reported_at_once() -> None:
    found = problems(FIXTURES / "several_problems.toml")
    assert found == [
        "mailbridge.secret: is a placeholder; set a random value (e.g. `openssl rand -hex 32`)",
        "queues[0].address: not an email address: 'pomoc-dynamics@'",
        "queues[0].langauge: unknown key (did you mean 'language'?)",
        "queues[1].code_prefix: 'DYN' is already used by queues[0].code_prefix",
    ]


def test_a_secret_value_is_never_echoed(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "[mailbridge]\nsecret = 'short-but-real'\n" + QUEUE))
    assert "short-but-real" not in found[0]


def test_toml_syntax_error_names_the_file_and_line() -> None:
    path = FIXTURES / "syntax_error_line_7.toml"
    found = problems(path)
    assert len(found) == 1
    assert found[0].startswith(f"{path} line 7: ")


def test_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "nowhere.toml") == [f"{tmp_path / 'nowhere.toml'}: no such file"]


def test_unreadable_file(tmp_path: Path) -> None:
    # A directory cannot be read as a file, even by root (file modes would not stop root).
    assert problems(tmp_path) == [f"{tmp_path}: cannot read: Is a directory"]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin2.toml"
    path.write_bytes(QUEUE.replace("Dynamics", "").encode() + "# Obsługa\n".encode("iso-8859-2"))
    assert problems(path) == [f"{path}: not UTF-8 text (byte {len(QUEUE) + 5})"]


def test_config_built_in_code_is_checked_across_queues_too() -> None:
    queue = QueueConfig(name="a", address="a@example.com", code_prefix="AA")
    other = QueueConfig(name="b", address="A@example.com", code_prefix="BB")
    with pytest.raises(ValidationError, match="already used by queues\\[0\\].address"):
        Config(queues=[queue, other])


# --- env: values ------------------------------------------------------------------------------


def test_env_values_are_read_from_the_environment() -> None:
    env = {
        "MB_TEST_SECRET": "9f2c4e7a1b3d5f60817263544a5b6c7d",
        "MB_TEST_DATABASE_URL": "postgres://mb:pw@127.0.0.1/mb",
        "MB_TEST_AGENT": "lucia@example.es",
    }
    config = load_config(FIXTURES / "secrets_from_env.toml", env=env)
    assert config.secret_bytes() == env["MB_TEST_SECRET"].encode()
    assert config.database_url == "postgresql+psycopg://mb:pw@127.0.0.1/mb"
    assert config.queues[0].agents == ("lucia@example.es",)


def test_unset_env_variables_are_problems_one_each() -> None:
    found = problems(FIXTURES / "secrets_from_env.toml", env={"MB_TEST_AGENT": "lucia@example.es"})
    assert found == [
        "mailbridge.secret: environment variable MB_TEST_SECRET is not set",
        "database.url: environment variable MB_TEST_DATABASE_URL is not set",
    ]


def test_env_value_is_validated_like_a_written_one() -> None:
    env = {"MB_TEST_SECRET": "change-me", "MB_TEST_DATABASE_URL": "", "MB_TEST_AGENT": "lucia"}
    found = problems(FIXTURES / "secrets_from_env.toml", env=env)
    assert [line.split(":")[0] for line in found] == ["mailbridge.secret", "queues[0].agents[0]"]


def test_env_name_must_be_a_variable_name(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "[database]\nurl = 'env:MY-URL'\n" + QUEUE))
    assert found == ["database.url: 'MY-URL' is not an environment variable name"]


# --- state directory and database -------------------------------------------------------------


def test_state_dir_defaults_to_state_under_the_working_directory(tmp_path: Path) -> None:
    config = load_config(FIXTURES / "minimal.toml", env={})
    assert config.state_dir == tmp_path / "state"


def test_state_dir_under_systemd_comes_from_state_directory() -> None:
    env = {"STATE_DIRECTORY": "/var/lib/mailbridge"}
    assert load_config(FIXTURES / "minimal.toml", env=env).state_dir == Path("/var/lib/mailbridge")
    env = {"STATE_DIRECTORY": "/var/lib/mailbridge:/var/lib/other"}
    assert load_config(FIXTURES / "minimal.toml", env=env).state_dir == Path("/var/lib/mailbridge")


def test_configured_state_dir_wins_and_relative_is_from_the_working_directory(tmp_path: Path) -> None:
    env = {"STATE_DIRECTORY": "/var/lib/mailbridge"}
    config = load_config(write(tmp_path, "[mailbridge]\nstate_dir = '/srv/mb'\n" + QUEUE), env=env)
    assert config.state_dir == Path("/srv/mb")
    config = load_config(write(tmp_path, "[mailbridge]\nstate_dir = 'var/mb'\n" + QUEUE), env=env)
    assert config.state_dir == tmp_path / "var" / "mb"
    assert config.database_url == f"sqlite:///{tmp_path / 'var' / 'mb' / 'mailbridge.sqlite3'}"


def test_state_dir_is_fixed_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(FIXTURES / "minimal.toml", env={})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert config.state_dir == tmp_path / "state"


def test_message_domain_is_configurable(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[mailbridge]\ndomain = 'Tickets.Example.NET'\n" + QUEUE))
    assert config.message_domain == "tickets.example.net"


# --- the generated secret ---------------------------------------------------------------------


def test_secret_is_generated_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    config = load_config(FIXTURES / "minimal.toml", env={})
    key_file = tmp_path / "state" / "secret.key"
    assert not key_file.exists()
    first = config.secret_bytes()
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) == 64
    assert config.secret_bytes() == first
    assert load_config(FIXTURES / "minimal.toml", env={}).secret_bytes() == first
    assert os.listdir(tmp_path / "state") == ["secret.key"]  # no temporary file left behind


def test_processes_starting_together_share_one_generated_secret(tmp_path: Path) -> None:
    configs = [load_config(FIXTURES / "minimal.toml", env={}) for _ in range(8)]
    barrier = threading.Barrier(len(configs))

    def read(config: Config) -> bytes:
        barrier.wait()
        return config.secret_bytes()

    with ThreadPoolExecutor(len(configs)) as pool:
        secrets = set(pool.map(read, configs))
    assert len(secrets) == 1
    assert os.listdir(tmp_path / "state") == ["secret.key"]


def test_dry_run_secret_writes_nothing_but_uses_an_existing_key(tmp_path: Path) -> None:
    config = load_config(FIXTURES / "minimal.toml", env={})
    assert len(config.secret_bytes(create=False)) == 64
    assert not (tmp_path / "state").exists()
    kept = config.secret_bytes()
    assert config.secret_bytes(create=False) == kept


def test_configured_secret_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    secret = "0c1f5b8e9a7d4c3b2a1f0e9d8c7b6a59"
    config = load_config(write(tmp_path, f"[mailbridge]\nsecret = '{secret}'\n" + QUEUE), env={})
    assert config.secret_bytes() == secret.encode()
    assert not (tmp_path / "state").exists()


def test_a_damaged_secret_file_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "secret.key").write_text("abc\n")
    config = load_config(FIXTURES / "minimal.toml", env={})
    with pytest.raises(ConfigError, match="secret key file is too short"):
        config.secret_bytes()
    assert (tmp_path / "state" / "secret.key").read_text() == "abc\n"


# --- where the config file is found -----------------------------------------------------------


def test_config_path_order_explicit_then_env_then_default(tmp_path: Path) -> None:
    explicit, from_env, default = (write(tmp_path, QUEUE, n) for n in ("a.toml", "b.toml", "c.toml"))
    env = {"MAILBRIDGE_CONFIG": str(from_env)}
    assert resolve_config_path(explicit, env, default) == explicit
    assert resolve_config_path(None, env, default) == from_env
    assert resolve_config_path(None, {}, default) == default


def test_no_config_anywhere_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_config_path(None, {}, tmp_path / "absent.toml")
    (line,) = caught.value.problems
    assert "--config" in line and "MAILBRIDGE_CONFIG" in line and str(tmp_path / "absent.toml") in line


def test_env_config_path_that_is_missing_is_not_skipped(tmp_path: Path) -> None:
    default = write(tmp_path, QUEUE, "default.toml")
    env = {"MAILBRIDGE_CONFIG": str(tmp_path / "typo.toml")}
    with pytest.raises(ConfigError) as caught:
        load_config(None, env=env, default_path=default)
    assert caught.value.problems == [f"{tmp_path / 'typo.toml'}: no such file"]
