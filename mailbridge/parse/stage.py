"""The pipeline's parse stage: one message parsed within PARSE_SECONDS, a failure kept as text, in whichever process runs it.

The result crosses process boundaries (a parser process of `serve` hands it to the process that
stores), so a failure travels as its quarantine text rather than as an exception object, which
might not survive pickling. Importing this module costs only the parser: a parser process never
loads the database layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailbridge.parse import parse_message
from mailbridge.parse.limits import PARSE_SECONDS, time_limit
from mailbridge.parse.model import ParsedMessage


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """The bytes could not be parsed (or not in time): the message goes to quarantine at stage parse."""

    error: str


def failure_text(error: BaseException) -> str:
    """How a failure of any stage reads in the quarantine: `ParseTimeout: took longer than 10 s`."""
    return f"{type(error).__name__}: {error}"


def parse_stage(raw: bytes, seconds: float = PARSE_SECONDS,
                parse: Callable[[bytes], ParsedMessage] = parse_message) -> ParsedMessage | ParseFailure:
    """`parse(raw)` interrupted after `seconds` (in a main thread); never raises for a bad message."""
    try:
        # A message that still parses too long is quarantined, and the queue behind it goes on.
        with time_limit(seconds):
            return parse(raw)
    except Exception as error:  # noqa: BLE001 - any failure to parse is quarantined, by design
        return ParseFailure(failure_text(error))
