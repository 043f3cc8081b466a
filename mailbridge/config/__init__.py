"""The config file: one TOML file validated at load, with secrets optionally from the environment.

`load_config()` finds the file (`--config`, then $MAILBRIDGE_CONFIG, then
/etc/mailbridge/mailbridge.toml), reads it and returns a `Config`, or raises `ConfigError` whose
`problems` are one line each, named by the key's path (`queues[2].address: not an email address`).
Every key and its default is documented in `config/mailbridge.example.toml`.
"""

from importlib import import_module

from mailbridge.config.source import CONFIG_ENV, DEFAULT_CONFIG_PATH, resolve_config_path
from mailbridge.errors import ConfigError

# The models and `load_config` import pydantic (about half of `mailbridge tickets list`'s start,
# issue 17): they are imported when first named, so that `mailbridge.config.plain` and
# `mailbridge.config.source` can be imported without them.
_LAZY = {"Config": "models", "DatabaseSection": "models", "MailbridgeSection": "models",
         "QueueConfig": "models", "ThreadingSection": "models", "load_config": "load"}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "Config",
    "ConfigError",
    "DatabaseSection",
    "MailbridgeSection",
    "QueueConfig",
    "ThreadingSection",
    "load_config",
    "resolve_config_path",
]
