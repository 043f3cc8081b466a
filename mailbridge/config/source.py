"""Find the config file, read its TOML and fill in `env:`, `file:` and `credential:` values.

Any string value may name where its text really is: `env:NAME` (an environment variable),
`file:PATH` (a file's content, one trailing newline dropped: a key file readable only by the
service) or `credential:NAME` (a systemd credential, `$CREDENTIALS_DIRECTORY/NAME`, given with
`LoadCredential=NAME:PATH` in the unit). Commands that never log in anywhere read with
`need_secrets=False`: a password or client secret they cannot read is then not a problem, it is
replaced by a stand-in that no command uses.

No pydantic here: `mailbridge.config.plain` reads the file through this module too.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from mailbridge.config.problems import format_loc, toml_problem
from mailbridge.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/mailbridge/mailbridge.toml")
CONFIG_ENV = "MAILBRIDGE_CONFIG"
_ENV_PREFIX = "env:"
_FILE_PREFIX = "file:"
_CREDENTIAL_PREFIX = "credential:"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")
# Keys only logging in to a server needs (IMAP, the relay, OAuth): see `need_secrets`.
SECRET_KEYS = frozenset({"password", "relay_password", "oauth2_client_secret", "client_secret"})
UNRESOLVED = "(not read: this command does not log in)"


def resolve_config_path(
    explicit: Path | None,
    env: Mapping[str, str] | None = None,
    default: Path = DEFAULT_CONFIG_PATH,
) -> Path:
    """`--config`, else $MAILBRIDGE_CONFIG, else /etc/mailbridge/mailbridge.toml if it exists."""
    env = os.environ if env is None else env
    if explicit is not None:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    if default.exists():
        return default
    raise ConfigError(
        [f"no config file: pass --config PATH, set {CONFIG_ENV}, or create {default}"]
    )


def read_toml(path: Path) -> dict:
    """The file's tables, or ConfigError with one line (unreadable, not UTF-8, bad TOML)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([toml_problem(path, exc)]) from None


def substitute_env(data: dict, env: Mapping[str, str], *, need_secrets: bool = True,
                   base: Path | None = None) -> tuple[dict, list[str]]:
    """Replace every `env:`, `file:` and `credential:` string by what it names; one that cannot be read is a problem."""
    problems: list[str] = []

    def walk(value: object, loc: tuple[str | int, ...]) -> object:
        if isinstance(value, dict):
            return {key: walk(item, (*loc, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*loc, index)) for index, item in enumerate(value)]
        if isinstance(value, str) and value.startswith((_ENV_PREFIX, _FILE_PREFIX, _CREDENTIAL_PREFIX)):
            found: list[str] = []
            text = _reference(value, env, format_loc(loc), found, base)
            if found and not need_secrets and loc and loc[-1] in SECRET_KEYS:
                return UNRESOLVED
            problems.extend(found)
            return text
        return value

    return walk(data, ()), problems


def _reference(value: str, env: Mapping[str, str], where: str, problems: list[str], base: Path | None) -> str:
    if value.startswith(_ENV_PREFIX):
        return _from_env(value[len(_ENV_PREFIX):], env, where, problems)
    if value.startswith(_FILE_PREFIX):
        path = Path(value[len(_FILE_PREFIX):]).expanduser()
        return _from_file(path if path.is_absolute() or base is None else base / path, where, problems)
    name = value[len(_CREDENTIAL_PREFIX):]
    directory = env.get("CREDENTIALS_DIRECTORY", "")
    if not _CREDENTIAL_NAME.fullmatch(name):
        problems.append(f"{where}: {name!r} is not a credential name")
        return ""
    if not directory:
        problems.append(f"{where}: credential {name} is not available: $CREDENTIALS_DIRECTORY is not set "
                        f"(give it to the service with LoadCredential={name}:PATH, or use file:PATH)")
        return ""
    return _from_file(Path(directory) / name, where, problems)


def _from_file(path: Path, where: str, problems: list[str]) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{where}: cannot read {path}: {exc.strerror or exc}")
        return ""
    except UnicodeDecodeError:
        problems.append(f"{where}: {path} is not UTF-8 text")
        return ""
    return text[:-1] if text.endswith("\n") else text


def _from_env(name: str, env: Mapping[str, str], where: str, problems: list[str]) -> str:
    if not _ENV_NAME.fullmatch(name):
        problems.append(f"{where}: {name!r} is not an environment variable name")
        return ""
    if name not in env:
        problems.append(f"{where}: environment variable {name} is not set")
        return ""
    return env[name]
