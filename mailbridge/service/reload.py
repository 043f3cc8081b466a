"""SIGHUP: read the config file again and apply what can change under a running `serve`.

Queues (addresses, agents, languages), templates, calendars, SLA policies, classification
rules, customers, threading and outbox policies take effect at once: the listener routes with
the new queues, the next deadline tick and a new processing worker (started once the current
one has finished its message) use the new config. What a running process cannot change safely
— the listener's address and TLS, the database, the IMAP accounts, the state directory and
secret, the metrics address — keeps its old value until a restart, and the log says so. A new
config that does not load, or whose templates do not render, is refused whole: the old one
stays and the log says why, one line per problem.
"""

from __future__ import annotations

import logging

from mailbridge.config import Config, load_config
from mailbridge.errors import ConfigError
from mailbridge.outgoing.templates import check_templates

log = logging.getLogger(__name__)

# Sections read once at start: a change is kept for the next restart.
RESTART_ONLY = ("mailbridge", "database", "listener", "imap", "metrics")


def reload_config(current: Config) -> Config:
    """The config to run with from now on; raises ConfigError (the old one stays) when the file is bad."""
    new = load_config(current.source)
    problems = check_templates(new)
    if problems:
        raise ConfigError(problems)
    pending = [name for name in RESTART_ONLY if getattr(new, name) != getattr(current, name)]
    if pending:
        log.warning("config reloaded, but %s changed: that takes effect at the next restart",
                    ", ".join(f"[{name}]" for name in pending))
    merged = new.model_copy(update={name: getattr(current, name) for name in RESTART_ONLY})
    # The resolved state directory and secret stay those of the running process, with its sections.
    merged._state_dir = current.state_dir
    merged._secret = current._secret
    return merged


def try_reload(current: Config) -> Config | None:
    """`reload_config`, with a refusal logged instead of raised; None when the old config stays."""
    try:
        return reload_config(current)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("config not reloaded: %s", problem)
        log.error("config not reloaded: still running with the config loaded before")
        return None
