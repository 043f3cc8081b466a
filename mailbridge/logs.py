"""Log set-up shared by `serve` and its processing worker: one line per event on stderr.

Three formats: `text` for a terminal (time, level, logger, message); `journal` when stderr is
journald's stream (systemd sets `$JOURNAL_STREAM` to its device:inode): no time (journald adds
it) and a `<N>` syslog priority prefix, so `journalctl -p warning` filters on our levels; and
`json`, one object per line for log pipelines. Whatever the format, reply tokens in
sub-addresses (`support+<token>@…`) and the secrets registered with `redact` never reach a line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "journal", "json")
# syslog priorities (RFC 5424) by logging level.
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}
# A signed reply token in a sub-address: the ticket id and its tag, or any long tag-like word.
_SUBADDRESS_TOKEN = re.compile(r"\+[a-z0-9]{8,}@", re.IGNORECASE)
_secrets: set[str] = set()


def redact(*values: str) -> None:
    """Never log these values (passwords, OAuth tokens): they are replaced by `***` in every line."""
    _secrets.update(v for v in values if v and len(v) >= 4)


def scrub(text: str) -> str:
    """`text` with reply tokens and registered secrets masked."""
    text = _SUBADDRESS_TOKEN.sub("+***@", text)
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


def default_format(env: dict | None = None) -> str:
    """`journal` when stderr is journald's stream, else `text`."""
    env = os.environ if env is None else env
    stream = env.get("JOURNAL_STREAM", "")
    if not stream:
        return "text"
    try:
        stat = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return "text"
    # systemd documents the check: the variable names the device and inode of the stream.
    return "journal" if stream == f"{stat.st_dev}:{stat.st_ino}" else "text"


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        # One event is one journal entry: a traceback's lines are joined, not split into several.
        line = scrub(super().format(record)).replace("\n", " | ")
        return f"<{priority}>{line}"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _formatter(name: str) -> logging.Formatter:
    if name == "json":
        return _JsonFormatter()
    if name == "journal":
        return _JournalFormatter("%(name)s: %(message)s")
    return _TextFormatter(LOG_FORMAT)


def configure_logging(level: str, log_format: str | None = None) -> str:
    """One line per event on stderr in `log_format` (default: see `default_format`); the format used."""
    chosen = log_format or default_format()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(chosen))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # aiosmtpd logs every command line at INFO; our own lines say what happened to each message.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.getLogger().level))
    return chosen


# The part after "+" in an address's local part: where our reply tokens travel.
_SUB_ADDRESS = re.compile(r"\+[^@\s,<>]+@")


def mask_tokens(text: str) -> str:
    """`support+TOKEN@example.com` as `support+…@example.com`: a reply token is a credential."""
    return _SUB_ADDRESS.sub("+…@", text or "")


class Outage:
    """A loop whose work keeps failing (the database is down): a growing pause, one log line per change.

    `failed()` returns how long to pause before the next try: 1, 2, 4 … seconds up to `longest`,
    however often the loop is woken meanwhile; it logs the first failure only. `recovered()`
    logs once that the work goes on again, with how long it was held up.
    """

    def __init__(self, logger: logging.Logger, what: str, first: float = 1.0, longest: float = 60.0,
                 clock=None) -> None:
        self.log, self.what, self.first, self.longest = logger, what, first, longest
        self.clock = clock or time.monotonic
        self.failures = 0
        self.since = 0.0

    def failed(self, error: str) -> float:
        if self.failures == 0:
            self.since = self.clock()
            self.log.error("%s paused: %s; retrying after 1 s, then less and less often (at most every "
                           "%.0f s), logged again when it goes on", self.what, error, self.longest)
        else:
            self.log.debug("%s still paused (try %d): %s", self.what, self.failures + 1, error)
        self.failures += 1
        return min(self.first * 2 ** (self.failures - 1), self.longest)

    def recovered(self) -> None:
        if self.failures:
            self.log.warning("%s goes on again after %d failed tries in %.0f s", self.what, self.failures,
                             self.clock() - self.since)
        self.failures = 0
