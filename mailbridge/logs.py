"""Log set-up shared by `serve` and its processing worker: one line per event on stderr."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """One line per event on stderr (journald adds its own timestamps, but a terminal does not)."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)
    # aiosmtpd logs every command line at INFO; our own lines say what happened to each message.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.getLogger().level))
