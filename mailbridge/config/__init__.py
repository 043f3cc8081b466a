"""The config file: one TOML file validated at load, with secrets optionally from the environment.

`load_config()` finds the file (`--config`, then $MAILBRIDGE_CONFIG, then
/etc/mailbridge/mailbridge.toml), reads it and returns a `Config`, or raises `ConfigError` whose
`problems` are one line each, named by the key's path (`queues[2].address: not an email address`).
Every key and its default is documented in `config/mailbridge.example.toml`.
"""

from mailbridge.config.load import CONFIG_ENV, DEFAULT_CONFIG_PATH, load_config, resolve_config_path
from mailbridge.config.models import (
    Config,
    DatabaseSection,
    MailbridgeSection,
    QueueConfig,
    ThreadingSection,
)
from mailbridge.errors import ConfigError

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
