"""The exceptions mailbridge raises on purpose; anything else escaping a stage is a bug.

    MailbridgeError
    ├── ConfigError       the config file cannot be used: one line per problem in `.problems`
    ├── Unroutable        no queue serves any recipient of the message, and no catch-all queue
    ├── ParseError        nothing readable in the bytes given to `parse_message`
    ├── Discard           an expected outcome, not a failure: the message belongs on no ticket
    ├── ListenError       `serve` cannot bind its listener address (in use, not ours, no permission)
    ├── StageFailed       a stage failed where no savepoint can undo the message alone (the caller redoes it)
    └── StoreError        the database cannot be used as it is
        ├── DatabaseUnavailable   cannot connect (wrong host, port, credentials, missing file dir)
        ├── SchemaOutOfDate       the schema is behind (or ahead of) this mailbridge's migrations
        └── NotFound              no stored row by that id or code (quarantine id, ticket code)
"""


class MailbridgeError(Exception):
    """Base class of every expected mailbridge failure."""


class ConfigError(MailbridgeError):
    """The config file is missing or invalid; `problems` holds one line each, with the key's path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class Unroutable(MailbridgeError):
    """No recipient of the message is a queue address and no queue is the catch-all."""


class ParseError(MailbridgeError):
    """The input holds no readable mail: empty, or bytes with no header or text structure."""


class StageFailed(MailbridgeError):
    """`pipeline.process(..., savepoints=False)` failed a stage after parsing (it would quarantine).

    Its writes share the caller's transaction with no savepoint around them, so they cannot be
    undone alone: the caller rolls the transaction back and redoes it with savepoints, where the
    message is quarantined as usual. `stage` is the stage that failed; the cause is chained.
    """

    def __init__(self, stage: str) -> None:
        super().__init__(f"stage {stage} failed")
        self.stage = stage


class Discard(MailbridgeError):
    """The pipeline's answer "on no ticket" (an orphan auto-reply, our own mail coming back).

    Not a failure: the message is still stored, on no ticket, with `rule` and `detail` saying
    why, so that `mailbridge explain` can answer for it (Mailman's DiscardMessage idea).
    """

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


class ListenError(MailbridgeError):
    """The listener cannot start: its address is in use or not ours, or its spool folder is unusable."""


class StoreError(MailbridgeError):
    """The database cannot be used as it is; the message is one line meant for the operator."""


class DatabaseUnavailable(StoreError):
    """Connecting to the database failed: wrong host or port, bad credentials, no such directory."""


class SchemaOutOfDate(StoreError):
    """The schema revision is not the one this mailbridge needs: run `mailbridge db upgrade`."""


class NotFound(StoreError):
    """No stored row answers to the id or code given (a quarantine id, a ticket code)."""


def error_line(exc: BaseException) -> str:
    """`Type: first line` of an error, for one log line. A database error's own text includes the
    statement's parameters, i.e. the whole message: only the driver's message is kept."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"
