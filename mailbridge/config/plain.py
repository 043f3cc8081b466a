"""The config of the plain case read without pydantic: where the database is and which queues exist.

Importing pydantic and building the config's models is over half of what `mailbridge tickets
list` costs before it reads a row (issue 17). Most files are small: `[mailbridge]`,
`[database]`, `[threading]`, a few `[listener]` keys and `[[queues]]` of addresses and agents.
Such a file is checked here with the same rules the models apply (`mailbridge.config.checks`,
the same types and bounds), and only what the listing needs is returned.

Only the plain case is read here: every table and key must be one this module knows, and every
value must pass. Anything else (another table, a TLS file, a calendar name, a value that fails,
an `env:` variable that is not set) answers None, and the caller loads the config the usual way,
which names every problem. tests/test_config_plain.py keeps both answers equal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from mailbridge.config.checks import (
    check_code_prefix,
    check_database_url,
    check_domain,
    check_email,
    check_mailbox,
    check_queue_name,
    check_relay_display_name,
    check_secret,
    check_zone,
    queue_conflicts,
)
from mailbridge.config.names import PRIORITIES, TYPES
from mailbridge.config.source import read_toml, resolve_config_path, substitute_env
from mailbridge.config.state import default_database_url, resolve_state_dir
from mailbridge.errors import ConfigError

LANGUAGES = ("pl", "es", "en")


class PlainQueue(NamedTuple):
    """A queue as the listing needs it."""

    name: str


class PlainConfig(NamedTuple):
    """What `tickets list` reads of a `Config`, with the same names."""

    source: Path
    state_dir: Path
    database_url: str
    queues: tuple[PlainQueue, ...]

    def queue(self, name: str) -> PlainQueue | None:
        """The queue called `name`, if any."""
        return next((q for q in self.queues if q.name == name), None)


def _text(rule: Callable[[str], str] | None = None) -> Callable[[object], bool]:
    """A StrictStr field, with the model's validator."""
    return lambda value: type(value) is str and _passes(rule, value)


def _whole(low: int, high: int | None = None) -> Callable[[object], bool]:
    """A StrictInt field with its `ge` / `le` bounds."""
    return lambda value: type(value) is int and value >= low and (high is None or value <= high)


def _one_of(*allowed: str) -> Callable[[object], bool]:
    """A Literal field of strings."""
    return lambda value: type(value) is str and value in allowed


def _texts(field: Callable[[object], bool]) -> Callable[[object], bool]:
    """A `tuple[...]` field, written as a TOML array."""
    return lambda value: type(value) is list and all(field(item) for item in value)


def _passes(rule: Callable[[str], str] | None, value: str) -> bool:
    try:
        if rule is not None:
            rule(value)
    except ValueError:
        return False
    return True


def _false(value: object) -> bool:
    return value is False


def _flag(value: object) -> bool:
    return type(value) is bool


# The keys read here and the rules of their model fields (models.py, listener.py). A key missing
# from a table is the model's default, which is never validated. Left out, so answered by the
# models: the listener's TLS files, AUTH users and trusted networks; `require_tls = true` (it
# needs TLS files); a queue's calendar; every other table.
_MAILBRIDGE = {"state_dir": _text(), "secret": _text(check_secret), "domain": _text(check_domain)}
_DATABASE = {"url": _text(check_database_url)}
_THREADING = {"reopen_window_days": _whole(0)}
_LISTENER = {
    "protocol": _one_of("smtp", "lmtp"), "host": _text(), "port": _whole(0, 65535), "hostname": _text(),
    "max_message_size": _whole(1024), "max_recipients": _whole(1, 1000), "require_tls": _false,
    "auth_require_tls": _flag, "log_level": _one_of("debug", "info", "warning", "error"),
    "trusted_authserv_id": _text(), "max_connections": _whole(2, 60000),
    "max_connections_per_client": _whole(1, 60000), "idle_seconds": _whole(1, 3600),
    "untrusted_idle_seconds": _whole(1, 3600),
}
_QUEUE = {
    "name": _text(check_queue_name), "address": _text(check_mailbox), "aliases": _texts(_text(check_mailbox)),
    "code_prefix": _text(check_code_prefix), "language": _one_of(*LANGUAGES),
    "languages": _texts(_one_of(*LANGUAGES)), "display_name": _text(), "agents": _texts(_text(check_email)),
    "catch_all": _flag, "time_zone": _text(check_zone), "relay_display_name": _text(check_relay_display_name),
    "default_priority": _one_of(*PRIORITIES), "default_type": _one_of(*TYPES),
}
_QUEUE_REQUIRED = ("name", "address", "code_prefix")
TABLES = {"mailbridge": _MAILBRIDGE, "database": _DATABASE, "threading": _THREADING, "listener": _LISTENER}


def load_plain(path: Path | None = None, *, env: Mapping[str, str] | None = None,
               cwd: Path | None = None) -> PlainConfig | None:
    """What `load_config(path, need_secrets=False)` would give the listing; None when not the plain case."""
    env = os.environ if env is None else env
    try:
        source = resolve_config_path(path, env)
        raw = read_toml(source)
    except ConfigError:
        return None
    data, problems = substitute_env(raw, env, need_secrets=False, base=source.parent)
    if problems or not _plain(data):
        return None
    state_dir = resolve_state_dir(data.get("mailbridge", {}).get("state_dir", ""), env, cwd or Path.cwd())
    url = data.get("database", {}).get("url", "")
    return PlainConfig(source=source, state_dir=state_dir,
                       database_url=check_database_url(url) or default_database_url(state_dir),
                       queues=tuple(PlainQueue(q["name"]) for q in data["queues"]))


def _plain(data: dict) -> bool:
    """Whether every table and key is one this module reads and every value passes its rule."""
    if set(data) - {*TABLES, "queues"}:
        return False
    if not all(_table_passes(data[name], fields) for name, fields in TABLES.items() if name in data):
        return False
    queues = data.get("queues")
    if type(queues) is not list or not queues:
        return False
    if not all(_table_passes(q, _QUEUE) and all(k in q for k in _QUEUE_REQUIRED) for q in queues):
        return False
    # The checks across tables that `load_config` runs; with only these tables, the queues' is
    # the only one that can find anything.
    return not queue_conflicts(queues)


def _table_passes(table: object, fields: dict[str, Callable[[object], bool]]) -> bool:
    return type(table) is dict and all(key in fields and fields[key](value) for key, value in table.items())
