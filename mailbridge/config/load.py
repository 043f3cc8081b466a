"""Load the config: read the file (`mailbridge.config.source`), validate it, and report every problem.

The file is found, read and its `env:`, `file:` and `credential:` values filled in by
`mailbridge.config.source`, whose names are also importable from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from mailbridge.config.checks import personal_agent_conflicts, queue_conflicts
from mailbridge.config.escalation import ladder_problems
from mailbridge.config.imap import imap_conflicts
from mailbridge.config.models import Config
from mailbridge.config.oauth import oauth_conflicts
from mailbridge.config.problems import validation_problems
from mailbridge.config.sla import name_conflicts
from mailbridge.config.source import (  # noqa: F401 - named here too, where they used to live
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    SECRET_KEYS,
    UNRESOLVED,
    read_toml,
    resolve_config_path,
    substitute_env,
)
from mailbridge.errors import ConfigError


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    default_path: Path = DEFAULT_CONFIG_PATH,
    need_secrets: bool = True,
) -> Config:
    """The validated config, or ConfigError listing every problem found, one line each."""
    env = os.environ if env is None else env
    source = resolve_config_path(path, env, default_path)
    data, problems = substitute_env(read_toml(source), env, need_secrets=need_secrets, base=source.parent)
    # A key whose variable is unset is already a problem; its stand-in "" should not be another.
    reported = frozenset(line.split(": ", 1)[0] for line in problems)
    problems += queue_conflicts(data.get("queues"))
    problems += imap_conflicts(data.get("imap"), data.get("queues"))
    problems += name_conflicts(data)
    problems += oauth_conflicts(data)
    problems += personal_agent_conflicts(data)
    problems += ladder_problems(data)
    context = {"env": env, "source": source, "conflicts_checked": True}
    try:
        config = Config.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, Config, reported) + problems) from None
    if problems:
        raise ConfigError(problems)
    return config
